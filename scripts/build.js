// Builds what ships: the server CLI bundle (dist/server/cli.js). Dependencies stay external.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: { 'server/cli': 'server/cli.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  define: { BERTH_VERSION: JSON.stringify(version) },
});

// The desktop app (electron/): main as ESM (Electron >= 28 loads ESM main scripts; server/ is ESM),
// dependencies and electron itself external (electron-builder packs the production dependencies).
await build({
  entryPoints: { 'electron/main': 'electron/main/index.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  define: { BERTH_VERSION: JSON.stringify(version) },
});

// The preload as one CommonJS file: a sandboxed preload cannot be ESM and can require only
// 'electron' (Electron docs, "Process Sandboxing"), so everything else is bundled in.
await build({
  entryPoints: { 'electron/preload': 'electron/preload/index.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'browser',
  format: 'cjs',
  target: 'chrome140',
  external: ['electron'],
  sourcemap: 'inline',
  logLevel: 'warning',
});

// Builds what ships: the server CLI bundle (dist/server/cli.js), the desktop app's main bundle
// (dist/electron/main.js, ESM: Electron >= 28 loads ESM main scripts) and its preload, and the web UI
// (dist/renderer, Vite: vite.config.ts). Dependencies stay external (electron-builder packs the
// production ones).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: { 'server/cli': 'server/cli.ts', 'electron/main': 'electron/main/index.ts' },
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

await viteBuild({ configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)) });

// Builds what ships: the server CLI bundle (dist/server/cli.js; dependencies stay external) and the
// web UI (dist/renderer, Vite: vite.config.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';

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

await viteBuild({ configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)) });

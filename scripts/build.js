// Builds what ships: the server CLI bundle (dist/server/cli.js). Dependencies stay external.
import { build } from 'esbuild';

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
});

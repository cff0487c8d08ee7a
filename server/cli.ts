/**
 * The `berth` command line. `berth serve` runs the registry headless; every failure the user can fix
 * is one line on stderr and a non-zero exit.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type BerthConfig } from './config.ts';
import { StartupError, createRegistry } from './index.ts';

const USAGE = `Usage: berth <command> [options]

Commands:
  serve     Run the registry (headless)
  help      Show this help

Options for serve:
  --host HOST        address to bind (default 127.0.0.1; env BERTH_HOST)
  --port PORT        port (default 5000; env BERTH_PORT)
  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file with host, port, data, logLevel (env BERTH_CONFIG)
  --log-level LEVEL  fatal|error|warn|info|debug|trace|silent (default info; env BERTH_LOG_LEVEL)
`;

/** Exit codes: 1 runtime failure, 2 usage or configuration error. */
class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"; run "berth help"`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`berth: ${err.message}\n`);
      return 2;
    }
    if (err instanceof StartupError) {
      process.stderr.write(`berth: ${err.message}\n`);
      return 1;
    }
    // Not a failure we foresaw: the stack helps whoever reports it.
    process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

async function configFromArgs(args: string[]): Promise<BerthConfig> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        data: { type: 'string' },
        config: { type: 'string' },
        'log-level': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
  const { host, port, data, config, 'log-level': logLevel } = parsed.values;
  return loadConfig({
    flags: { host, port, data, logLevel },
    ...(config !== undefined ? { configFile: config } : {}),
  });
}

async function serve(args: string[]): Promise<number> {
  const config = await configFromArgs(args);
  const registry = createRegistry(config);
  const { url } = await registry.listen();
  process.stderr.write(`Berth registry at ${url} (data: ${config.dataDir}). Push with: docker push ${url.replace(/^https?:\/\//, '')}/<image>\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write('berth: stopping now\n');
        resolve(130);
        return;
      }
      stopping = true;
      registry.log.info({ signal }, 'stopping: letting in-flight requests finish');
      registry.close().then(
        () => resolve(0),
        (err) => {
          process.stderr.write(`berth: error while stopping: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

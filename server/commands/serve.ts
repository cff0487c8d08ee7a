/** `berth serve`: the registry, headless, until SIGINT/SIGTERM. */
import { loadConfig, type BerthConfig } from '../config.ts';
import { builtUiDir } from '../http/ui.ts';
import { selfUrl } from '../registry/addresses.ts';
import { createRegistry } from '../index.ts';
import { parseOptions, type Command } from './common.ts';

export const SERVER_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
} as const;

export const SERVER_OPTIONS_USAGE = `  --host HOST        address to bind (default 127.0.0.1; env BERTH_HOST)
  --port PORT        port (default 5000; env BERTH_PORT)
  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file with host, port, data, logLevel (env BERTH_CONFIG)
  --log-level LEVEL  fatal|error|warn|info|debug|trace|silent (default info; env BERTH_LOG_LEVEL)`;

/** The server configuration from `berth <command> [server options]`. */
export async function configFromArgs(args: string[]): Promise<BerthConfig> {
  const { values } = parseOptions(args, SERVER_OPTIONS);
  const { host, port, data, config, 'log-level': logLevel } = values;
  return loadConfig({
    flags: { host, port, data, logLevel },
    ...(config !== undefined ? { configFile: config } : {}),
  });
}

export const serveCommand: Command = {
  summary: 'Run the registry (headless)',
  usage: `Usage: berth serve [options]\n\n${SERVER_OPTIONS_USAGE}\n`,
  async run(args) {
    const config = { ...(await configFromArgs(args)), uiDir: builtUiDir() };
    const registry = createRegistry(config);
    const { url } = await registry.listen();
    process.stderr.write(`Berth registry at ${url} (data: ${config.dataDir}). Push with: docker push ${url.replace(/^https?:\/\//, '')}/<image>\n`);
    // The management API answers loopback only (http/api/guard.ts): the UI is opened from this machine.
    if (config.uiDir) process.stderr.write(`Web UI: ${selfUrl(url)}/\n`);
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
  },
};

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
  auth: { type: 'string' },
  'anonymous-pull': { type: 'boolean' },
  tls: { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'insecure-no-auth': { type: 'boolean' },
} as const;

export const SERVER_OPTIONS_USAGE = `  --host HOST        address to bind (default 127.0.0.1; env BERTH_HOST)
  --port PORT        port (default 5000; env BERTH_PORT)
  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file with host, port, data, logLevel (env BERTH_CONFIG)
  --log-level LEVEL  fatal|error|warn|info|debug|trace|silent (default info; env BERTH_LOG_LEVEL)
  --auth MODE        none|token: token needs a login (users: berth user add); default none on a
                     loopback address, token on any other (env BERTH_AUTH)
  --anonymous-pull   with auth on, anyone may pull without logging in (env BERTH_ANONYMOUS_PULL)
  --tls              serve HTTPS with Berth's own CA and certificate (<data>/tls/ca.crt; see
                     berth tls trust-help) (env BERTH_TLS)
  --tls-cert FILE    serve HTTPS with this PEM certificate chain... (env BERTH_TLS_CERT)
  --tls-key FILE     ...and its private key (env BERTH_TLS_KEY)
  --insecure-no-auth serve a non-loopback address without auth (refused otherwise)
                     (env BERTH_INSECURE_NO_AUTH)
On the first start with auth on, the user "admin" is created with the password in BERTH_ADMIN_PASSWORD,
or a generated one printed once.`;

/** The server configuration from `berth <command> [server options]`. */
export async function configFromArgs(args: string[]): Promise<BerthConfig> {
  const { values } = parseOptions(args, SERVER_OPTIONS);
  const { host, port, data, config, 'log-level': logLevel, auth, 'anonymous-pull': anonymousPull, tls } = values;
  const { 'tls-cert': tlsCert, 'tls-key': tlsKey, 'insecure-no-auth': insecureNoAuth } = values;
  return loadConfig({
    flags: { host, port, data, logLevel, auth, anonymousPull, tls, tlsCert, tlsKey, insecureNoAuth },
    ...(config !== undefined ? { configFile: config } : {}),
  });
}

export const serveCommand: Command = {
  summary: 'Run the registry (headless)',
  usage: `Usage: berth serve [options]\n\n${SERVER_OPTIONS_USAGE}\n`,
  async run(args) {
    const config = { ...(await configFromArgs(args)), uiDir: builtUiDir() };
    const registry = createRegistry(config);
    // One signal listener for the whole life of the command: a stop asked for while starting (the port
    // answers before listen() returns) is kept and honoured once started. Swapping listeners instead
    // would lose a signal that arrived in between: Node drops the pending signal of a watcher removed
    // before it dispatched (seen as a server that ignored SIGTERM under a benchmark's start/stop loop).
    let stop: ((signal: NodeJS.Signals) => void) | null = null;
    let stopAsked: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stop) stop(signal);
      else stopAsked = signal;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const started = await registry.listen();
    const { url, initialAdmin } = started;
    process.stderr.write(`Berth registry at ${url} (data: ${config.dataDir}). Push with: docker push ${url.replace(/^https?:\/\//, '')}/<image>\n`);
    if (initialAdmin) {
      // Straight to the terminal, never through the logger: credentials stay out of logs.
      process.stderr.write(
        `Created the user "${initialAdmin.name}" with the password ${initialAdmin.password}\n` +
          `It is shown only this once. Log in with: docker login ${url.replace(/^https?:\/\//, '')} -u ${initialAdmin.name}\n` +
          `Change it with: berth user passwd ${initialAdmin.name}, or on the Users & tokens page of the web UI\n`,
      );
    }
    // The management API answers loopback only (http/api/guard.ts): the UI is opened from this machine.
    if (config.uiDir) process.stderr.write(`Web UI: ${selfUrl(url)}/\n`);
    return new Promise<number>((resolve) => {
      let stopping = false;
      stop = (signal: NodeJS.Signals) => {
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
      if (stopAsked) stop(stopAsked);
    });
  },
};

/** `berth serve`: the registry, headless, until SIGINT/SIGTERM. */
import { defaults, loadConfig, type BerthConfig } from '../config.ts';
import { builtUiDir } from '../http/ui.ts';
import fs from 'node:fs/promises';
import { pushAddresses, type CoveredNames } from '../registry/addresses.ts';
import { selfUrl } from '../self-url.ts';
import { describeCertificate } from '../tls/certificates.ts';
import { subjectNames } from '../tls/names.ts';
import { createRegistry } from '../index.ts';
import { tuneHeap } from '../storage/transient-memory.ts';
import { parseOptions, setAsideLine, type Command } from './common.ts';

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
  mirror: { type: 'string', multiple: true },
  'metadata-url': { type: 'string' },
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
  --mirror NAME=URL  be a pull-through cache of the registry at URL, which clients call NAME, such as
                     docker.io=https://registry-1.docker.io; repeatable (env BERTH_MIRRORS, comma-separated;
                     settings per upstream: config file "mirrors", or the Mirrors page)
  --metadata-url URL keep the metadata in PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB) instead of
                     the data directory: replicas sharing it and one storage form one registry
                     (env BERTH_METADATA_URL, which keeps the password off the command line;
                     config file "metadata"; see docs/deploy.md)
On the first start with auth on, the user "admin" is created with the password in BERTH_ADMIN_PASSWORD,
or a generated one printed once.`;

/**
 * What `berth serve` prints once it listens: where it is, the exact commands that push to it (an
 * address clients can connect to and, with TLS, one the certificate names; `docker login` first when
 * auth is on), and where the web UI is.
 */
export async function startLines(config: BerthConfig, url: string, user: string | null): Promise<string> {
  const listening = new URL(url);
  const port = Number(listening.port);
  let names: CoveredNames | null = null;
  if (config.tls) {
    names = config.tlsCert
      ? await fs.readFile(config.tlsCert, 'utf8').then((pem) => describeCertificate(pem)).then((facts) => facts.names, () => null)
      : subjectNames(config.host);
  }
  const { push, others } = pushAddresses(config.host, port, names);
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const lines = [
    wildcard
      ? `Berth registry at ${listening.protocol}//${push} (listening on ${listening.host}, every interface; data: ${config.dataDir})`
      : `Berth registry at ${url} (data: ${config.dataDir})`,
    config.auth === 'token'
      ? `Push with: docker login ${push}${user ? ` -u ${user}` : ''} && docker push ${push}/<image>`
      : `Push with: docker push ${push}/<image>`,
  ];
  if (config.tls && !config.tlsCert) {
    const flags = [`--host ${config.host}`, `--port ${port}`, ...(config.dataDir !== defaults().dataDir ? [`--data ${config.dataDir}`] : [])];
    lines.push(`Clients must trust Berth's CA (${config.dataDir}/tls/ca.crt) for ${push}: see berth tls trust-help ${flags.join(' ')}`);
  }
  if (others.length > 0) {
    lines.push(config.tls
      ? `Also covered by the certificate: ${others.join(', ')}`
      : `Other machines push to ${others.join(' or ')} once it is in "insecure-registries" of their Docker daemon.json (or serve with --tls)`);
  }
  // The management API answers loopback only (http/api/guard.ts): the UI is opened from this machine.
  if (config.uiDir) lines.push(`Web UI: ${selfUrl(url)}/`);
  return `${lines.join('\n')}\n`;
}

/** The server configuration from `berth <command> [server options]`. */
export async function configFromArgs(args: string[]): Promise<BerthConfig> {
  const { values } = parseOptions(args, SERVER_OPTIONS);
  const { host, port, data, config, 'log-level': logLevel, auth, 'anonymous-pull': anonymousPull, tls } = values;
  const { 'tls-cert': tlsCert, 'tls-key': tlsKey, 'insecure-no-auth': insecureNoAuth, mirror, 'metadata-url': metadata } = values;
  return loadConfig({
    flags: { host, port, data, logLevel, auth, anonymousPull, tls, tlsCert, tlsKey, insecureNoAuth, ...(mirror ? { mirrors: mirror } : {}), ...(metadata ? { metadata } : {}) },
    ...(config !== undefined ? { configFile: config } : {}),
  });
}

export const serveCommand: Command = {
  summary: 'Run the registry (headless)',
  usage: `Usage: berth serve [options]\n\n${SERVER_OPTIONS_USAGE}\n`,
  async run(args) {
    tuneHeap();
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
    const { url, initialAdmin, setAside } = started;
    process.stderr.write(await startLines(config, url, initialAdmin?.name ?? null));
    if (initialAdmin) {
      // Straight to the terminal, never through the logger: credentials stay out of logs.
      process.stderr.write(
        `Created the user "${initialAdmin.name}" with the password ${initialAdmin.password}\n` +
          `It is shown only this once. Change it with: berth user passwd ${initialAdmin.name}, or on the Users & tokens page of the web UI\n`,
      );
    }
    for (const store of setAside) process.stderr.write(setAsideLine(store));
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

/** `berth tls trust-help`: how to make Docker, Podman or the OS trust Berth's CA for this host and port. */
import net from 'node:net';
import { describeCertificate } from '../tls/certificates.ts';
import { subjectNames } from '../tls/names.ts';
import { ensureCa, TlsFiles } from '../tls/store.ts';
import { ENGINES, trustHelp, type Engine } from '../tls/trust-help.ts';
import { isLoopbackHost } from '../config.ts';
import { StoragePaths } from '../storage/paths.ts';
import { UsageError, parseOptions, subcommandError, useDataDir, type Command } from './common.ts';
import { DATA_OPTIONS, DATA_OPTIONS_USAGE, configFor } from './auth-store.ts';

const USAGE = `Usage: berth tls trust-help [--engine docker|podman|desktop] [--host HOST] [--port PORT]

Prints the steps to trust Berth's local CA (<data>/tls/ca.crt, made now if it does not exist yet) for
the addresses clients use to reach this host and port, for one engine or all of them.

Options:
  --engine ENGINE    docker (Docker Engine on Linux), podman (Podman, Buildah, Skopeo), desktop (Docker Desktop)
  --host HOST        the address Berth binds (default 127.0.0.1; env BERTH_HOST)
  --port PORT        its port (default 5000; env BERTH_PORT)
${DATA_OPTIONS_USAGE}
`;

const OPTIONS = { ...DATA_OPTIONS, engine: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' } } as const;

function withPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export const tlsCommand: Command = {
  summary: 'TLS help: trust-help prints how to trust Berth\'s CA',
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub !== 'trust-help') throw subcommandError('tls', sub, ['trust-help']);
    const { values } = parseOptions(rest, OPTIONS);
    const engine = values.engine ?? null;
    if (engine !== null && !(ENGINES as readonly string[]).includes(engine)) throw new UsageError(`--engine "${engine}" is not one of ${ENGINES.join(', ')}`);
    const config = await configFor(values);
    const paths = new StoragePaths(config.dataDir);
    await useDataDir(paths.root);
    const files = new TlsFiles(paths.tlsDir);
    const names = subjectNames(config.host);
    // Only the CA is made (when missing, or when the one there will not do: store.ts); the server
    // certificate is the server's business (a running server notices within ten minutes).
    const { ca, made, reason } = await ensureCa(files, names);
    const wildcard = config.host === '0.0.0.0' || config.host === '::';
    const hosts = isLoopbackHost(config.host)
      ? ['localhost', '127.0.0.1', 'host.docker.internal']
      : wildcard ? [...names.dns.filter((n) => n !== 'localhost'), ...names.ips.filter((ip) => !isLoopbackHost(ip)), 'localhost'] : [config.host];
    const { fingerprint } = await describeCertificate(ca.certPem);
    if (made && reason) process.stdout.write(`Berth made a new CA just now (${reason}): clients that trusted the previous one must trust this one instead.\n\n`);
    process.stdout.write(trustHelp({ caFile: files.caCert, fingerprint, addresses: hosts.map((h) => withPort(h, config.port)), engine: engine as Engine | null }));
    return 0;
  },
};

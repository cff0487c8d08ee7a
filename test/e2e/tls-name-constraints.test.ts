/**
 * Berth's local CA can sign only for what it serves (tls/certificates.ts, tls/names.ts): critical
 * X.509 Name Constraints, read back by `openssl x509 -text`, and enforced by `openssl verify` on
 * certificates its key signs for other names. A CA made by an older Berth (no constraints, ten years)
 * is replaced, and `berth tls trust-help` says so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { subjectNames } from '../../server/tls/names.ts';
import { ensureCertificates, TlsFiles } from '../../server/tls/store.ts';
import { runBerth } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const execFileAsync = promisify(execFile);

/** openssl's exit code and output, failures included. */
async function openssl(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('openssl', args);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the local CA\'s name constraints (openssl)', { skip: skipUnless('openssl'), timeout: 120_000 }, () => {
  let dir: string;
  let files: TlsFiles;
  const names = subjectNames('0.0.0.0');

  before(async () => {
    dir = await tempDir('berth-ca-');
    files = new TlsFiles(path.join(dir, 'tls'));
    await ensureCertificates(files, names);
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  /** A certificate for `san` (e.g. "DNS:evil.example"), signed with Berth's CA key as an attacker holding it would. */
  async function signedByTheCaKey(name: string, san: string): Promise<string> {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.crt`);
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`]);
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', files.caCert, '-CAkey', files.caKey, '-CAcreateserial', '-copy_extensions', 'copyall', '-days', '1', '-out', cert]);
    return cert;
  }

  it('carries critical Name Constraints permitting this machine\'s names, loopback and private ranges, for two years', async () => {
    const text = await run('openssl', ['x509', '-in', files.caCert, '-noout', '-text']);
    assert.match(text, /X509v3 Name Constraints: critical\n\s+Permitted:\n/);
    for (const name of ['DNS:localhost', 'DNS:host.docker.internal', 'IP:127.0.0.0/255.0.0.0', 'IP:10.0.0.0/255.0.0.0', 'IP:172.16.0.0/255.240.0.0', 'IP:192.168.0.0/255.255.0.0', 'IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF']) {
      assert.ok(text.includes(name), `${name} in:\n${text}`);
    }
    for (const dns of names.dns) assert.ok(text.includes(`DNS:${dns}`), dns);
    assert.doesNotMatch(text, /Excluded:/);
    const start = Date.parse(/Not Before: (.+)/.exec(text)![1]!);
    const end = Date.parse(/Not After : (.+)/.exec(text)![1]!);
    assert.equal(Math.round((end - start) / 86_400_000), 730);
  });

  it('verifies its own server certificate', async () => {
    const verified = await openssl(['verify', '-purpose', 'sslserver', '-CAfile', files.caCert, files.serverCert]);
    assert.equal(verified.code, 0, verified.output);
  });

  it('cannot vouch for a name or address outside them, even signed with its own key', async () => {
    for (const [name, san] of [['evil.example', 'DNS:evil.example'], ['www.bank.example', 'DNS:www.bank.example'], ['public-ip', 'IP:8.8.8.8'], ['public-v6', 'IP:2001:4860:4860::8888']]) {
      const cert = await signedByTheCaKey(name!, san!);
      const verified = await openssl(['verify', '-CAfile', files.caCert, cert]);
      assert.notEqual(verified.code, 0, `${san} must not verify: ${verified.output}`);
      assert.match(verified.output, /permitted subtree violation/, san);
    }
    // Inside them it still signs what it serves: a LAN address after a move to another network.
    const lan = await signedByTheCaKey('lan', 'IP:192.168.77.5,DNS:localhost');
    assert.equal((await openssl(['verify', '-CAfile', files.caCert, lan])).code, 0);
  });

  it('replaces a CA made before the constraints, and trust-help says to trust the new one', async () => {
    const data = path.join(dir, 'old-data');
    const tls = path.join(data, 'tls');
    await fs.mkdir(tls, { recursive: true });
    // What an older Berth made: a ten-year CA with no name constraints.
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(tls, 'ca.key'), '-out', path.join(tls, 'ca.crt'),
      '-days', '3650', '-subj', '/CN=Berth local CA (old)/O=Berth', '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const before = await fs.readFile(path.join(tls, 'ca.crt'), 'utf8');
    const help = await runBerth(['tls', 'trust-help', '--data', data, '--engine', 'docker']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Berth made a new CA just now \(the old one had no name constraints: its key could sign for any name\): clients that trusted the previous one must trust this one instead\./);
    assert.match(help.stdout, /It may sign only for this machine's names and loopback or private addresses/);
    const after = await fs.readFile(path.join(tls, 'ca.crt'), 'utf8');
    assert.notEqual(after, before);
    assert.match(await run('openssl', ['x509', '-in', path.join(tls, 'ca.crt'), '-noout', '-text']), /X509v3 Name Constraints: critical/);
    // Once replaced, it stays.
    const again = await runBerth(['tls', 'trust-help', '--data', data, '--engine', 'docker']);
    assert.doesNotMatch(again.stdout, /made a new CA/);
  });
});

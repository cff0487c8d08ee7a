/** Berth's own certificates: the names they carry and when they are made again. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeCertificate, signedBy } from '../../server/tls/certificates.ts';
import { normalizeIp, subjectNames } from '../../server/tls/names.ts';
import { ensureCertificates, TlsFiles } from '../../server/tls/store.ts';
import { tempDir } from '../helpers/server.ts';

const interfaces = {
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.1.20/24' },
    { address: '169.254.10.1', netmask: '255.255.0.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '169.254.10.1/16' },
    { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
    { address: 'fd00::20', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fd00::20/64', scopeid: 0 },
  ],
} as unknown as ReturnType<typeof import('node:os').networkInterfaces>;

describe('subject names', () => {
  it('covers loopback, the host name, host.docker.internal and LAN addresses, not link-local ones', () => {
    assert.deepEqual(subjectNames('0.0.0.0', interfaces, 'Build-Box'), {
      dns: ['build-box', 'build-box.local', 'host.docker.internal', 'localhost'],
      ips: ['127.0.0.1', '192.168.1.20', '::1', 'fd00::20'],
    });
    assert.ok(subjectNames('registry.lan', interfaces, 'box').dns.includes('registry.lan'));
    assert.ok(subjectNames('10.1.2.3', interfaces, 'box').ips.includes('10.1.2.3'));
  });
  it('compares IPv6 addresses in one spelling', () => {
    assert.equal(normalizeIp('::1'), normalizeIp('0:0:0:0:0:0:0:1'));
    assert.equal(normalizeIp('FD00::0020'), normalizeIp('fd00:0:0:0:0:0:0:20'));
  });
});

describe('certificate files', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('berth-tls-unit-');
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('makes a CA and a server certificate once, and keeps them while nothing changes', async () => {
    const files = new TlsFiles(dir);
    const names = subjectNames('127.0.0.1', interfaces, 'box');
    const first = await ensureCertificates(files, names);
    assert.equal(first.issued, 'ca');
    assert.ok(await signedBy(first.cert, first.ca!));
    const facts = await describeCertificate(first.cert);
    assert.deepEqual(facts.names.dns, names.dns);
    const second = await ensureCertificates(files, names);
    assert.equal(second.issued, null);
    assert.equal(second.cert, first.cert);
    assert.equal(((await fs.stat(files.caKey)).mode & 0o777), 0o600);
  });

  it('re-issues the server certificate when the names change, keeping the CA', async () => {
    const files = new TlsFiles(dir);
    const caBefore = await fs.readFile(files.caCert, 'utf8');
    const moved = subjectNames('127.0.0.1', { ...interfaces, wlan0: [{ ...interfaces.eth0![0]!, address: '10.0.0.7' }] }, 'box');
    const material = await ensureCertificates(files, moved);
    assert.equal(material.issued, 'server');
    assert.equal(material.ca, caBefore);
    assert.ok((await describeCertificate(material.cert)).names.ips.includes('10.0.0.7'));
  });

  it('re-issues the server certificate when its expiry nears, and the CA when it does', async () => {
    const files = new TlsFiles(dir);
    const names = subjectNames('127.0.0.1', interfaces, 'box');
    await ensureCertificates(files, names);
    const inElevenMonths = new Date(Date.now() + 340 * 86_400_000);
    assert.equal((await ensureCertificates(files, names, inElevenMonths)).issued, 'server');
    const inTenYears = new Date(Date.now() + 3640 * 86_400_000);
    assert.equal((await ensureCertificates(files, names, inTenYears)).issued, 'ca');
  });

  it('replaces a server certificate not signed by the current CA', async () => {
    const files = new TlsFiles(path.join(dir, 'other'));
    const names = subjectNames('127.0.0.1', interfaces, 'box');
    await ensureCertificates(files, names);
    await fs.copyFile(path.join(dir, 'server.crt'), files.serverCert);
    await fs.copyFile(path.join(dir, 'server.key'), files.serverKey);
    const material = await ensureCertificates(files, names);
    assert.equal(material.issued, 'server');
    assert.ok(await signedBy(material.cert, material.ca!));
  });
});

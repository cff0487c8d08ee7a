/** How clients reach the registry (server/registry/addresses.ts). */
import assert from 'node:assert/strict';
import type os from 'node:os';
import { describe, it } from 'node:test';
import { clientAddresses, pushAddresses } from '../../server/registry/addresses.ts';
import { selfUrl } from '../../server/self-url.ts';
import { DataDirLockedError } from '../../server/storage/lock.ts';

const interfaces = {
  lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
  eth0: [{ address: '192.168.1.20', family: 'IPv4', internal: false }, { address: 'fe80::1', family: 'IPv6', internal: false }],
} as unknown as NodeJS.Dict<os.NetworkInterfaceInfo[]>;

describe('clientAddresses', () => {
  it('on loopback: localhost, the VM names, and no LAN address', () => {
    assert.deepEqual(clientAddresses('127.0.0.1', 5000, interfaces), {
      localhost: 'localhost:5000', dockerDesktop: 'host.docker.internal:5000', podmanMachine: 'host.containers.internal:5000', lan: [], loopbackOnly: true,
    });
  });

  it('on all interfaces: every external IPv4 address', () => {
    const a = clientAddresses('0.0.0.0', 5001, interfaces);
    assert.deepEqual(a.lan, ['192.168.1.20:5001']);
    assert.equal(a.loopbackOnly, false);
  });

  it('on one address: that address', () => {
    assert.deepEqual(clientAddresses('10.0.0.5', 5000, interfaces).lan, ['10.0.0.5:5000']);
  });
});

describe('selfUrl', () => {
  it('replaces a wildcard address with loopback', () => {
    assert.equal(selfUrl('http://0.0.0.0:5000'), 'http://127.0.0.1:5000');
    assert.equal(selfUrl('http://[::]:5000'), 'http://[::1]:5000');
    assert.equal(selfUrl('http://127.0.0.1:5000'), 'http://127.0.0.1:5000');
  });

  it('names the server holding a data directory (storage/lock.ts) the same way, and a damaged URL as written', () => {
    const holder = (url?: string) => ({ pid: 42, startedAt: '2026-12-04T00:00:00Z', ...(url === undefined ? {} : { url }) });
    assert.match(new DataDirLockedError('/d/lock', holder('https://0.0.0.0:5000')).message, /\(pid 42, https:\/\/127\.0\.0\.1:5000\); lock file \/d\/lock$/);
    assert.match(new DataDirLockedError('/d/lock', holder('http://[::]:5000')).message, /\(pid 42, http:\/\/\[::1\]:5000\)/);
    assert.match(new DataDirLockedError('/d/lock', holder('not a url')).message, /\(pid 42, not a url\)/);
    assert.match(new DataDirLockedError('/d/lock', holder()).message, /\(pid 42\); lock file/);
  });
});

describe('pushAddresses', () => {
  const own = { dns: ['box', 'box.local', 'host.docker.internal', 'localhost'], ips: ['127.0.0.1', '192.168.1.20', '::1'] };

  it('a bound address is printed as it is', () => {
    assert.deepEqual(pushAddresses('127.0.0.1', 5000, null, interfaces, 'box'), { push: '127.0.0.1:5000', others: [] });
    assert.deepEqual(pushAddresses('::1', 5000, own, interfaces, 'box'), { push: '[::1]:5000', others: [] });
  });

  it('all interfaces with TLS: the LAN address the certificate names, then its other names; never 0.0.0.0', () => {
    assert.deepEqual(pushAddresses('0.0.0.0', 5011, own, interfaces, 'box'), { push: '192.168.1.20:5011', others: ['box:5011', 'box.local:5011'] });
    assert.deepEqual(pushAddresses('::', 5011, own, interfaces, 'BOX'), { push: '192.168.1.20:5011', others: ['box:5011', 'box.local:5011'] });
  });

  it('all interfaces with a certificate that names no address of this machine: a name it does carry', () => {
    assert.deepEqual(pushAddresses('0.0.0.0', 443, { dns: ['registry.example.com'], ips: [] }, interfaces, 'box'), { push: 'registry.example.com:443', others: [] });
  });

  it('all interfaces without TLS: localhost, which Docker pushes to over HTTP unconfigured; LAN addresses as the others', () => {
    assert.deepEqual(pushAddresses('0.0.0.0', 5000, null, interfaces, 'box'), { push: 'localhost:5000', others: ['192.168.1.20:5000'] });
  });
});

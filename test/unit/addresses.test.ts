/** How clients reach the registry (server/registry/addresses.ts). */
import assert from 'node:assert/strict';
import type os from 'node:os';
import { describe, it } from 'node:test';
import { clientAddresses, selfUrl } from '../../server/registry/addresses.ts';

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
});

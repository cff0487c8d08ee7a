/** The Docker setup page's steps (renderer/setup/engines.ts): what they offer for the addresses Berth has. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientAddresses } from '../../server/registry/api-types.ts';
import { engines } from '../../renderer/setup/engines.ts';

const loopback: ClientAddresses = {
  localhost: 'localhost:5000', dockerDesktop: 'host.docker.internal:5000', podmanMachine: 'host.containers.internal:5000', lan: [], loopbackOnly: true,
};
const everywhere: ClientAddresses = { ...loopback, lan: ['192.168.1.20:5000'], loopbackOnly: false };

function dockerEngineText(addresses: ClientAddresses, tls: boolean): string {
  const engine = engines({ addresses, tls }).find((e) => e.id === 'docker-engine')!;
  return engine.steps.map((s) => [s.text, s.path, s.code].filter(Boolean).join('\n')).join('\n');
}

describe('Docker setup steps', () => {
  it('offers no steps for other computers while Berth listens on loopback only, and says how to open it up', () => {
    for (const tls of [false, true]) {
      const text = dockerEngineText(loopback, tls);
      assert.doesNotMatch(text, /From another computer|this computer's address|insecure-registries/, `tls ${tls}`);
      assert.match(text, /Other computers cannot reach Berth yet: it listens on this computer only \(loopback\)\. .*berth serve --host 0\.0\.0\.0/);
    }
  });

  it('gives the steps for other computers with the LAN address once Berth listens beyond loopback', () => {
    assert.match(dockerEngineText(everywhere, false), /From another computer, list 192\.168\.1\.20:5000 as insecure there[\s\S]*"insecure-registries": \[\s*"192\.168\.1\.20:5000"/);
    assert.match(dockerEngineText(everywhere, true), /\/etc\/docker\/certs\.d\/192\.168\.1\.20:5000\/ca\.crt/);
    assert.doesNotMatch(dockerEngineText(everywhere, false), /cannot reach Berth yet/);
  });

  it('names every tab in a few words, so the tabs fit one line', () => {
    const tabs = engines({ addresses: loopback, tls: false }).map((e) => e.tab ?? e.name);
    assert.deepEqual(tabs, ['Docker Engine', 'Rootless Docker', 'Docker Desktop', 'Podman', 'Podman machine', 'containerd', 'kind', 'Buildx']);
  });
});

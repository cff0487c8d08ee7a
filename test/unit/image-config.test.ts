/** Reading an image config for people (server/registry/image-config.ts): odd values never throw. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imageConfigView } from '../../server/registry/image-config.ts';

describe('imageConfigView', () => {
  it('reads the runtime settings, labels, ports and history', () => {
    const view = imageConfigView({
      os: 'linux', architecture: 'arm64', variant: 'v8', created: '2026-01-01T00:00:00Z', author: 'me',
      config: {
        User: 'app', WorkingDir: '/w', Entrypoint: ['/e'], Cmd: ['c'], Env: ['A=1'], Labels: { a: 'b', n: 1 },
        ExposedPorts: { '443/tcp': {}, '80/tcp': {} }, Volumes: { '/v': {} }, StopSignal: 'SIGINT',
      },
      history: [{ created_by: 'RUN x', empty_layer: true, comment: 'c' }, 'junk', { created: '2026-01-01T00:00:00Z' }],
    });
    assert.deepEqual(view, {
      os: 'linux', architecture: 'arm64', variant: 'v8', created: '2026-01-01T00:00:00Z', author: 'me', user: 'app', workingDir: '/w',
      entrypoint: ['/e'], cmd: ['c'], env: ['A=1'], labels: { a: 'b' }, exposedPorts: ['443/tcp', '80/tcp'], volumes: ['/v'],
      stopSignal: 'SIGINT',
      history: [
        { created: null, createdBy: 'RUN x', comment: 'c', emptyLayer: true },
        { created: '2026-01-01T00:00:00Z', createdBy: null, comment: null, emptyLayer: false },
      ],
    });
  });

  it('falls back to container_config, and to empty values for anything malformed', () => {
    assert.deepEqual(imageConfigView({ container_config: { Cmd: ['sh'] } }).cmd, ['sh']);
    const empty = imageConfigView('not an object');
    assert.equal(empty.os, null);
    assert.deepEqual(empty.env, []);
    assert.equal(empty.cmd, null);
    assert.deepEqual(imageConfigView({ config: { Env: 'PATH=/bin', Cmd: [1, 2], Labels: null } }).env, []);
  });
});

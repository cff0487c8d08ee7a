/** A busy port: who holds it, which port to offer instead (5001 first), and what the dialog says. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import {
  describePortHolder,
  findFreePort,
  isPortFree,
  lookupListeners,
  portConflictPrompt,
  type ProcessLookup,
} from '../../electron/main/port-conflict.ts';
import { skipUnless } from '../helpers/tools.ts';
import { occupy } from './helpers.ts';

describe('the free port offered instead', () => {
  it('is 5001 when 5001 is free', async () => {
    assert.equal(await findFreePort(5000, async () => true), 5001);
  });

  it('is the next free one after 5001', async () => {
    const taken = new Set([5000, 5001, 5002]);
    assert.equal(await findFreePort(5000, async (p) => !taken.has(p)), 5003);
  });

  it('is never the busy port itself', async () => {
    const checked: number[] = [];
    const port = await findFreePort(5001, async (p) => {
      checked.push(p);
      return true;
    });
    assert.equal(port, 5002);
    assert.ok(!checked.includes(5001));
  });

  it('is null when no port is free', async () => {
    assert.equal(await findFreePort(5000, async () => false), null);
  });

  it('isPortFree sees a real listening socket', async () => {
    const held = await occupy();
    try {
      assert.equal(await isPortFree(held.port, '127.0.0.1'), false);
      assert.equal(await isPortFree(held.port, '0.0.0.0'), false, 'every interface includes loopback');
    } finally {
      await held.close();
    }
    // Asked twice, answered the same both times (get-port would call a port it returned "locked").
    assert.equal(await isPortFree(held.port, '127.0.0.1'), true);
    assert.equal(await isPortFree(held.port, '127.0.0.1'), true);
  });
});

describe('who holds the port', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill();
  });

  it('on macOS, port 5000 is the AirPlay Receiver (ControlCenter)', async () => {
    const lookup: ProcessLookup = async () => [{ pid: 412, name: 'ControlCenter' }];
    assert.deepEqual(await describePortHolder(5000, 'darwin', lookup), { description: 'the AirPlay Receiver', airplay: true });
  });

  it('on macOS, port 5000 is the AirPlay Receiver even when the lookup sees nothing', async () => {
    assert.equal((await describePortHolder(5000, 'darwin', async () => [])).airplay, true);
    assert.equal((await describePortHolder(5000, 'darwin', async () => Promise.reject(new Error('lsof missing')))).airplay, true);
  });

  it('on macOS, another program on 5000 is named, not blamed on AirPlay', async () => {
    const holder = await describePortHolder(5000, 'darwin', async () => [{ pid: 77, name: 'Python' }]);
    assert.deepEqual(holder, { description: 'Python (process 77)', airplay: false });
  });

  it('elsewhere, the port 5000 holder is not assumed to be AirPlay', async () => {
    assert.deepEqual(await describePortHolder(5000, 'linux', async () => []), { description: 'another program', airplay: false });
    assert.deepEqual(await describePortHolder(5000, 'win32', async () => [{ pid: 9, name: 'svchost.exe' }]), {
      description: 'svchost.exe (process 9)',
      airplay: false,
    });
  });

  it('a failed lookup says "another program"', async () => {
    assert.equal((await describePortHolder(8080, 'linux', async () => Promise.reject(new Error('no ss')))).description, 'another program');
  });

  it('names a real process holding a real port (find-process over ss/netstat/lsof)', { skip: process.platform === 'linux' ? skipUnless('ss') : false }, async () => {
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(0,'127.0.0.1',function(){console.log(this.address().port)})"], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
    const found = await lookupListeners(port);
    assert.ok(found.some((p) => p.pid === child.pid), `expected pid ${child.pid} in ${JSON.stringify(found)}`);
    const holder = await describePortHolder(port, process.platform);
    assert.match(holder.description, new RegExp(`\\(process ${child.pid}\\)$`));
  });
});

describe('the port-conflict dialog', () => {
  it('on macOS names the AirPlay Receiver, says where to turn it off, and offers port 5001', () => {
    const prompt = portConflictPrompt({ port: 5000, holder: { description: 'the AirPlay Receiver', airplay: true }, freePort: 5001 });
    assert.equal(prompt.message, 'Port 5000 is already in use by the AirPlay Receiver');
    assert.match(prompt.detail, /macOS 12/);
    assert.match(prompt.detail, /System Settings > General > AirDrop & Handoff/);
    assert.deepEqual(prompt.buttons, [
      { label: 'Use Port 5001', action: 'switch' },
      { label: 'Try Again', action: 'retry' },
      { label: 'Quit Berth', action: 'quit' },
    ]);
    assert.equal(prompt.cancelAction, 'quit');
  });

  it('elsewhere names the holder and the port it offers', () => {
    const prompt = portConflictPrompt({ port: 5000, holder: { description: 'node (process 4242)', airplay: false }, freePort: 5003 });
    assert.equal(prompt.message, 'Port 5000 is already in use by node (process 4242)');
    assert.match(prompt.detail, /held by node \(process 4242\)\. Berth can use port 5003 instead/);
    assert.doesNotMatch(prompt.detail, /AirPlay/);
    assert.equal(prompt.buttons[0]?.label, 'Use Port 5003');
  });

  it('without a free port, offers only to try again or quit', () => {
    const prompt = portConflictPrompt({ port: 5000, holder: { description: 'another program', airplay: false }, freePort: null });
    assert.deepEqual(prompt.buttons.map((b) => b.action), ['retry', 'quit']);
    assert.match(prompt.detail, /No free port/);
  });
});

/**
 * Throttling that slows guessing without locking anyone out (auth/service.ts, auth/throttle.ts).
 * Clients come from several loopback addresses (127.0.0.x: every one of them is this machine on
 * Linux), so each plays another machine: the attacker, the real CI, a colleague. The auth service's
 * clock is the test's: it stands still unless the test moves it, so no wait runs out by accident.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ADMIN_PASSWORD, addUser, basic } from '../helpers/auth.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

interface Answer {
  status: number;
  retryAfter: number | null;
  body: string;
}

/** GET /token with Basic credentials, sent from `from` (a local address). */
export function tokenFrom(server: TestServer, from: string, user: string, password: string, query = 'service=berth&scope=repository:app:pull'): Promise<Answer> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: url.hostname, port: url.port, path: `/token?${query}`, localAddress: from, agent: false, headers: { Authorization: basic(user, password) } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] ? Number(res.headers['retry-after']) : null, body }));
    });
    req.on('error', reject);
  });
}

describe('login throttling that locks no one out', { skip: singleProcess('the test moves a clock injected into the server process; replicas are `berth serve` processes on the real clock') }, () => {
  let server: TestServer;
  let ciToken: string;
  let ciRefresh: string;
  let now = Date.now();
  const CI = '127.0.0.1';
  const ATTACKER = '127.0.0.2';

  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD }, { authNow: () => now });
    await addUser(server, 'ci', 'ci-password-1', '*:pull,push');
    ciToken = (await server.registry.auth!.createAccessToken({ user: 'ci', label: 'pipeline', expiresAt: null, permissions: null })).token;
    // The real CI logs in as it does every day, from its own address.
    const login = await tokenFrom(server, CI, 'ci', 'ci-password-1', 'service=berth&scope=repository:app:pull&offline_token=true&client_id=docker');
    assert.equal(login.status, 200, login.body);
    ciRefresh = (JSON.parse(login.body) as { refresh_token: string }).refresh_token;
  });
  after(() => server.close({ remove: true }));

  it('keeps accepting the valid token and password of a user someone else keeps guessing (the report\'s lockout)', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 40; i++) answers.push((await tokenFrom(server, ATTACKER, 'ci', `guess-${i}`)).status);
    assert.ok(answers.slice(0, 10).every((s) => s === 401), `the first guesses are checked: ${answers.join(' ')}`);
    assert.ok(answers.slice(25).every((s) => s === 429), `then the guesser is throttled: ${answers.join(' ')}`);

    // The CI's access token: from its own address, and even from the guesser's (a token is never refused).
    assert.equal((await tokenFrom(server, CI, 'ci', ciToken)).status, 200);
    assert.equal((await tokenFrom(server, ATTACKER, 'ci', ciToken)).status, 200);
    // Its password, from where it always logs in.
    assert.equal((await tokenFrom(server, CI, 'ci', 'ci-password-1')).status, 200);
    // Its docker login (refresh token).
    const refreshed = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: ciRefresh, service: 'berth', client_id: 'docker' }),
    });
    assert.equal(refreshed.status, 200);
    // Another user is not touched by it.
    assert.equal((await tokenFrom(server, '127.0.0.3', 'admin', ADMIN_PASSWORD)).status, 200);
  });

  it('still slows down the same guesses spread over other addresses, but never for long', async () => {
    // A machine the user never logged in from is where a distributed guesser would be: the user
    // name's failures count there. The wait says when to come back, and it is at most a minute.
    const fresh = await tokenFrom(server, '127.0.0.4', 'ci', 'ci-password-1');
    assert.equal(fresh.status, 429, fresh.body);
    assert.ok(fresh.retryAfter !== null && fresh.retryAfter >= 1 && fresh.retryAfter <= 60, `Retry-After ${fresh.retryAfter}`);
    now += fresh.retryAfter! * 1000;
    assert.equal((await tokenFrom(server, '127.0.0.4', 'ci', 'ci-password-1')).status, 200, 'once the wait it named is over');
  });

  it('throttles an address that guesses many user names, whatever names it tries next', async () => {
    await addUser(server, 'colleague', 'colleague-password', '*:pull');
    const scanner = '127.0.0.5';
    for (let i = 0; i < 20; i++) {
      const answer = await tokenFrom(server, scanner, `user-${i}`, 'password123');
      assert.equal(answer.status, 401, `attempt ${i}: ${answer.body}`);
    }
    // The 21st attempt from there is refused unchecked, even with a right password for a name it never tried.
    const next = await tokenFrom(server, scanner, 'colleague', 'colleague-password');
    assert.equal(next.status, 429, next.body);
    assert.match(next.body, /too many failed logins; try again in \d+ s/);
    // The same login from the colleague's own machine goes through.
    assert.equal((await tokenFrom(server, '127.0.0.6', 'colleague', 'colleague-password')).status, 200);
  });
});

/** The window: sandboxed, isolated, no Node; navigation and new windows denied; external links validated. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONTENT_SECURITY_POLICY,
  guardContents,
  isOwnCertificate,
  isSafeExternalUrl,
  navigationDecision,
  windowOptions,
  withCsp,
  type GuardedContents,
} from '../../electron/main/window.ts';

const ORIGIN = 'http://127.0.0.1:5000';

/** A WebContents that records the guards' listeners and lets the test fire them. */
class FakeContents implements GuardedContents {
  readonly listeners = new Map<string, (...args: never[]) => void>();
  openHandler: ((details: { url: string }) => { action: 'deny' }) | null = null;
  on(event: string, listener: (...args: never[]) => void): this {
    this.listeners.set(event, listener);
    return this;
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void {
    this.openHandler = handler;
  }
  /** Fires will-navigate (or will-redirect) and tells whether it was prevented. */
  navigate(event: 'will-navigate' | 'will-redirect', url: string): boolean {
    let prevented = false;
    const listener = this.listeners.get(event) as (e: { preventDefault(): void }, url: string) => void;
    listener({ preventDefault: () => (prevented = true) }, url);
    return prevented;
  }
  frameNavigate(url: string): boolean {
    let prevented = false;
    const listener = this.listeners.get('will-frame-navigate') as (e: { preventDefault(): void; url: string }) => void;
    listener({ url, preventDefault: () => (prevented = true) });
    return prevented;
  }
}

function guarded(origin: string | null = ORIGIN) {
  const contents = new FakeContents();
  const opened: string[] = [];
  guardContents(contents, { origin: () => origin, openExternal: (url) => opened.push(url) });
  return { contents, opened };
}

describe('window options', () => {
  it('isolate and sandbox the renderer, with no Node anywhere and no webview', () => {
    const { webPreferences } = windowOptions({ preload: '/app/preload.cjs', devTools: false });
    assert.equal(webPreferences?.contextIsolation, true);
    assert.equal(webPreferences?.sandbox, true);
    assert.equal(webPreferences?.nodeIntegration, false);
    assert.equal(webPreferences?.nodeIntegrationInWorker, false);
    assert.equal(webPreferences?.nodeIntegrationInSubFrames, false);
    assert.equal(webPreferences?.webviewTag, false);
    assert.equal(webPreferences?.webSecurity, true);
    assert.equal(webPreferences?.allowRunningInsecureContent, false);
    assert.equal(webPreferences?.devTools, false);
    assert.equal(webPreferences?.preload, '/app/preload.cjs');
  });
});

describe('navigation', () => {
  it('stays on our origin; http(s) elsewhere opens outside; anything else goes nowhere', () => {
    assert.equal(navigationDecision(`${ORIGIN}/settings`, ORIGIN), 'allow');
    assert.equal(navigationDecision('https://docs.docker.com/', ORIGIN), 'open-external');
    assert.equal(navigationDecision('http://127.0.0.1:5001/', ORIGIN), 'open-external');
    assert.equal(navigationDecision('file:///etc/passwd', ORIGIN), 'deny');
    assert.equal(navigationDecision('javascript:alert(1)', ORIGIN), 'deny');
    assert.equal(navigationDecision(`${ORIGIN}/`, null), 'open-external', 'with the registry down nothing is ours');
  });

  it('external links must be http(s) with a host and no credentials', () => {
    for (const url of ['https://github.com/', 'http://example.com/a?b=c']) assert.equal(isSafeExternalUrl(url), true, url);
    for (const url of ['file:///tmp/x', 'javascript:alert(1)', 'smb://host/share', 'data:text/html,hi', 'https://user:pw@example.com/', 'vscode://x', 'nonsense']) {
      assert.equal(isSafeExternalUrl(url), false, url);
    }
  });

  it('will-navigate off our origin is prevented; a safe link opens in the system browser', () => {
    const { contents, opened } = guarded();
    assert.equal(contents.navigate('will-navigate', `${ORIGIN}/image/app`), false);
    assert.equal(contents.navigate('will-navigate', 'https://docs.docker.com/engine/'), true);
    assert.equal(contents.navigate('will-navigate', 'file:///etc/hosts'), true);
    assert.deepEqual(opened, ['https://docs.docker.com/engine/']);
  });

  it('redirects and sub-frame navigations off our origin are prevented and open nothing', () => {
    const { contents, opened } = guarded();
    assert.equal(contents.navigate('will-redirect', 'https://elsewhere.example/'), true);
    assert.equal(contents.frameNavigate('https://elsewhere.example/'), true);
    assert.equal(contents.frameNavigate(`${ORIGIN}/inner`), false);
    assert.deepEqual(opened, []);
  });

  it('window.open is always denied; safe URLs open in the system browser instead', () => {
    const { contents, opened } = guarded();
    assert.deepEqual(contents.openHandler?.({ url: 'https://github.com/' }), { action: 'deny' });
    assert.deepEqual(contents.openHandler?.({ url: `${ORIGIN}/v2/` }), { action: 'deny' });
    assert.deepEqual(contents.openHandler?.({ url: 'file:///etc/passwd' }), { action: 'deny' });
    assert.deepEqual(opened, ['https://github.com/', `${ORIGIN}/v2/`]);
  });

  it('webviews are never attached', () => {
    const { contents } = guarded();
    let prevented = false;
    (contents.listeners.get('will-attach-webview') as (e: { preventDefault(): void }) => void)({ preventDefault: () => (prevented = true) });
    assert.equal(prevented, true);
  });
});

describe('Content-Security-Policy', () => {
  it('allows scripts and connections to our origin only, no framing, no plugins', () => {
    const directives = new Map(CONTENT_SECURITY_POLICY.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
    assert.equal(directives.get('default-src'), "'none'");
    assert.equal(directives.get('script-src'), "'self'");
    assert.equal(directives.get('connect-src'), "'self'");
    assert.equal(directives.get('frame-ancestors'), "'none'");
    assert.equal(directives.get('object-src'), "'none'");
    assert.equal(directives.get('base-uri'), "'none'");
  });

  it('replaces any CSP on our responses and keeps the other headers', () => {
    const headers = withCsp(`${ORIGIN}/`, ORIGIN, { 'content-security-policy': ['default-src *'], 'Content-Type': ['text/html'] });
    assert.deepEqual(headers, { 'Content-Type': ['text/html'], 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] });
  });

  it('leaves responses from other origins unchanged', () => {
    const original = { 'Content-Type': ['text/html'] };
    assert.deepEqual(withCsp('https://example.com/', ORIGIN, original), original);
  });
});

describe('the certificate of our own HTTPS origin', () => {
  const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake0CA\nbody==\n-----END CERTIFICATE-----\n';
  const HTTPS = 'https://127.0.0.1:5000';

  it('is accepted only when issued by the CA in the data directory', () => {
    assert.equal(isOwnCertificate({ url: `${HTTPS}/`, origin: HTTPS, issuerPem: CA.replace(/\n/g, '\r\n'), caPem: CA }), true);
    assert.equal(isOwnCertificate({ url: `${HTTPS}/`, origin: HTTPS, issuerPem: CA.replace('fake0', 'other'), caPem: CA }), false);
    assert.equal(isOwnCertificate({ url: `${HTTPS}/`, origin: HTTPS, issuerPem: undefined, caPem: CA }), false);
    assert.equal(isOwnCertificate({ url: `${HTTPS}/`, origin: HTTPS, issuerPem: CA, caPem: null }), false);
  });

  it('never for another origin, or over plain HTTP', () => {
    assert.equal(isOwnCertificate({ url: 'https://example.com/', origin: HTTPS, issuerPem: CA, caPem: CA }), false);
    assert.equal(isOwnCertificate({ url: 'https://127.0.0.1:5001/', origin: HTTPS, issuerPem: CA, caPem: CA }), false);
    assert.equal(isOwnCertificate({ url: `${HTTPS}/`, origin: null, issuerPem: CA, caPem: CA }), false);
    assert.equal(isOwnCertificate({ url: 'http://127.0.0.1:5000/', origin: 'http://127.0.0.1:5000', issuerPem: CA, caPem: CA }), false);
  });
});

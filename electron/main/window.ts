/**
 * The Berth window and what keeps it safe. The UI is served by the registry itself
 * (http://127.0.0.1:<port>/), so the window is a browser on a local origin: the renderer is
 * sandboxed with context isolation and no Node, gets a strict Content-Security-Policy, may not
 * navigate away, open windows, attach webviews or ask for permissions; external http(s) links open
 * in the system browser instead (Electron security checklist, items 2-4, 7, 13-15).
 */
import type { BrowserWindowConstructorOptions } from 'electron';

/**
 * CSP for the UI's origin (CSP Level 3). 'unsafe-inline' for styles only: React sets style
 * attributes and UI libraries inject <style> elements; scripts stay 'self'-only, which is what
 * blocks injected code. connect-src 'self' covers /api/ and the live-event stream.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

export function windowOptions(options: { preload: string; devTools: boolean; icon?: string }): BrowserWindowConstructorOptions {
  return {
    title: 'Berth',
    width: 1240,
    height: 820,
    minWidth: 820,
    minHeight: 560,
    // Shown on ready-to-show, so the user never sees a blank white frame.
    show: false,
    autoHideMenuBar: true,
    ...(options.icon ? { icon: options.icon } : {}),
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webviewTag: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: options.devTools,
    },
  };
}

/** The origin of a URL, or null for a URL that does not parse or has no origin (data:, about:). */
export function originOf(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

/**
 * Whether a link may be handed to the system browser: http(s) only (file:, javascript:, custom
 * schemes could run or open local things), with a host, and no credentials in it.
 */
export function isSafeExternalUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return (parsed.protocol === 'https:' || parsed.protocol === 'http:') && parsed.hostname !== '' && parsed.username === '' && parsed.password === '';
}

export type NavigationDecision = 'allow' | 'open-external' | 'deny';

/** In-window navigation stays on our origin; anything else opens outside (if safe) or nowhere. */
export function navigationDecision(url: string, ourOrigin: string | null): NavigationDecision {
  if (ourOrigin !== null && originOf(url) === ourOrigin) return 'allow';
  return isSafeExternalUrl(url) ? 'open-external' : 'deny';
}

interface PreventableEvent {
  preventDefault(): void;
}

/** The parts of WebContents the guards use (Electron's WebContents satisfies it). */
export interface GuardedContents {
  on(event: 'will-navigate', listener: (event: PreventableEvent, url: string) => void): unknown;
  on(event: 'will-frame-navigate', listener: (event: PreventableEvent & { url: string }) => void): unknown;
  on(event: 'will-redirect', listener: (event: PreventableEvent, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: PreventableEvent) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

export interface NavigationPolicy {
  /** Our UI's origin right now (it changes when the port does), or null while the registry is down. */
  origin(): string | null;
  /** Opens a validated URL in the system browser (shell.openExternal). */
  openExternal(url: string): void;
}

/** Denies navigation off our origin and every new window; safe external links go to the system browser. */
export function guardContents(contents: GuardedContents, policy: NavigationPolicy): void {
  const decide = (event: PreventableEvent, url: string) => {
    const decision = navigationDecision(url, policy.origin());
    if (decision === 'allow') return;
    event.preventDefault();
    if (decision === 'open-external') policy.openExternal(url);
  };
  contents.on('will-navigate', decide);
  contents.on('will-redirect', (event, url) => {
    if (navigationDecision(url, policy.origin()) !== 'allow') event.preventDefault();
  });
  // Sub-frames (an <iframe> a bug or an injected link could create) may not navigate anywhere else either.
  contents.on('will-frame-navigate', (event) => {
    if (navigationDecision(event.url, policy.origin()) !== 'allow') event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  // No window is ever opened by the renderer; a link with target=_blank opens in the system browser.
  contents.setWindowOpenHandler(({ url }) => {
    if (isSafeExternalUrl(url)) policy.openExternal(url);
    return { action: 'deny' };
  });
}

/**
 * Response headers with our CSP replacing any other on responses from our origin; responses from
 * elsewhere (which the window never shows: navigation is denied) pass unchanged.
 */
export function withCsp(url: string, ourOrigin: string | null, headers: Record<string, string[]> | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = { ...headers };
  if (ourOrigin === null || originOf(url) !== ourOrigin) return out;
  for (const name of Object.keys(out)) {
    if (name.toLowerCase() === 'content-security-policy') delete out[name];
  }
  out['Content-Security-Policy'] = [CONTENT_SECURITY_POLICY];
  return out;
}

/** A PEM certificate reduced to its base64 body, so line breaks and trailing newlines do not matter. */
function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

/**
 * With TLS on, the UI is served over HTTPS with a certificate from Berth's local CA, which Chromium
 * does not know. The window accepts it for our own origin only, and only when the certificate's
 * issuer is exactly that CA (the one in the data directory); anything else stays refused.
 */
export function isOwnCertificate(options: { url: string; origin: string | null; issuerPem: string | undefined; caPem: string | null }): boolean {
  const { url, origin, issuerPem, caPem } = options;
  if (origin === null || !origin.startsWith('https:') || originOf(url) !== origin) return false;
  if (!issuerPem || !caPem) return false;
  const ca = pemBody(caPem);
  return ca.length > 0 && pemBody(issuerPem) === ca;
}

/**
 * The names a server certificate must carry so every way of reaching this machine verifies:
 * localhost, 127.0.0.1, ::1, the host name (and its mDNS .local form), host.docker.internal (how
 * containers and Docker Desktop's VM reach the host), the machine's LAN addresses, and the configured
 * bind host when it names one. Link-local addresses (169.254/16, fe80::/10) change with every boot
 * and cannot be routed, so they are left out. Go and modern browsers read only the SANs, never the CN.
 */
import net from 'node:net';
import os from 'node:os';

export interface SubjectNames {
  dns: string[];
  ips: string[];
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function isLinkLocal(address: string): boolean {
  return /^169\.254\./.test(address) || /^fe[89ab][0-9a-f]:/i.test(address);
}

export function subjectNames(bindHost: string, interfaces = os.networkInterfaces(), hostname = os.hostname()): SubjectNames {
  const dns = new Set(['localhost', 'host.docker.internal']);
  const ips = new Set(['127.0.0.1', '::1']);
  const host = hostname.toLowerCase();
  if (DNS_NAME.test(host)) {
    dns.add(host);
    if (!host.includes('.')) dns.add(`${host}.local`);
  }
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (!entry.internal && !isLinkLocal(entry.address)) ips.add(entry.address);
    }
  }
  const bind = bindHost.toLowerCase();
  if (net.isIP(bind)) {
    if (bind !== '0.0.0.0' && bind !== '::' && !isLinkLocal(bind)) ips.add(bind);
  } else if (DNS_NAME.test(bind)) {
    dns.add(bind);
  }
  return { dns: [...dns].sort(), ips: [...ips].sort() };
}

export function sameNames(a: SubjectNames, b: SubjectNames): boolean {
  const key = (n: SubjectNames) => JSON.stringify([[...n.dns].sort(), [...n.ips].map(normalizeIp).sort()]);
  return key(a) === key(b);
}

/** IPv6 addresses have many spellings; compare them in one. */
export function normalizeIp(ip: string): string {
  if (!net.isIPv6(ip)) return ip;
  // Expanded to eight groups without leading zeros (embedded IPv4 forms are not used for SANs here).
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const parts = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return parts.map((p) => p.toLowerCase().replace(/^0+(?=.)/, '')).join(':');
}

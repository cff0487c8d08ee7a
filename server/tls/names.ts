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

/**
 * What Berth's CA may sign for (X.509 Name Constraints, RFC 5280 §4.2.1.10): the names it serves.
 *   DNS: localhost, host.docker.internal, the host name and its .local form, the bind host (each with
 *        its subdomains, as a DNS constraint always includes them).
 *   IP:  loopback (127.0.0.0/8, ::1) and the private ranges a LAN address comes from (10/8,
 *        172.16/12, 192.168/16, 100.64/10 as Tailscale and carrier NAT use, fc00::/7), so joining
 *        another network never needs a new CA; plus any other address this machine has exactly.
 * So a CA key that leaks can sign for nothing on the internet, only for this machine's names and
 * private addresses.
 */
export interface NameConstraints {
  dns: string[];
  /** CIDR ranges ("127.0.0.0/8", "fc00::/7"). */
  ips: string[];
}

const PRIVATE_RANGES = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '::1/128', 'fc00::/7'];

export function caConstraints(names: SubjectNames): NameConstraints {
  const ips = new Set(PRIVATE_RANGES);
  for (const ip of names.ips) {
    if (!permitsIp(PRIVATE_RANGES, ip)) ips.add(`${ip}/${net.isIPv6(ip) ? 128 : 32}`);
  }
  return { dns: [...new Set(names.dns)].sort(), ips: [...ips] };
}

/** Whether a CA with `constraints` may sign a certificate for every one of `names`. */
export function permits(constraints: NameConstraints, names: SubjectNames): boolean {
  const dnsOk = names.dns.every((name) => constraints.dns.some((base) => name === base || name.endsWith(`.${base}`)));
  return dnsOk && names.ips.every((ip) => permitsIp(constraints.ips, ip));
}

function permitsIp(ranges: readonly string[], ip: string): boolean {
  const address = ipBytes(ip);
  return ranges.some((range) => {
    const [base = '', bits = '0'] = range.split('/');
    const prefix = ipBytes(base);
    if (prefix.length !== address.length) return false;
    let left = Number(bits);
    for (let i = 0; i < prefix.length && left > 0; i++, left -= 8) {
      const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
      if ((prefix[i]! & mask) !== (address[i]! & mask)) return false;
    }
    return true;
  });
}

function ipBytes(ip: string): number[] {
  if (net.isIPv4(ip)) return ip.split('.').map(Number);
  return normalizeIp(ip).split(':').flatMap((group) => {
    const n = parseInt(group, 16);
    return [n >> 8, n & 0xff];
  });
}

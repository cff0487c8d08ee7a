/**
 * The self-test's HTTP client: node:http(s) rather than fetch, because over HTTPS it must trust
 * Berth's own CA, which fetch cannot be told. Bodies are small (a few hundred bytes): read whole.
 */
import http from 'node:http';
import https from 'node:https';

export interface SelfTestResponse {
  status: number;
  header(name: string): string | null;
  body: Buffer;
}

export interface SelfTestRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export function selfRequest(url: string, { method = 'GET', headers = {}, body }: SelfTestRequest, ca: string | null): Promise<SelfTestResponse> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method,
        headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) },
        agent: false,
        timeout: 30_000,
        ...(ca ? { ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const value = (name: string) => {
            const v = res.headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          };
          resolve({ status: res.statusCode ?? 0, header: value, body: Buffer.concat(chunks) });
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 30 s')));
    request.on('error', reject);
    request.end(body);
  });
}

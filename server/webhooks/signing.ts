/**
 * Signatures on every delivery of an endpoint with a secret, two kinds, so receivers can use whichever
 * library they have:
 *   Standard Webhooks (standardwebhooks.com, spec "Signature scheme"), made by the npm `standardwebhooks`
 *   package receivers verify with: `webhook-id` (the delivery id), `webhook-timestamp` (Unix seconds),
 *   `webhook-signature: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`. A secret "whsec_<base64>" has
 *   the base64-decoded bytes as key (what `new Webhook(secret)` does); any other secret is used as it
 *   is (`new Webhook(secret, {format: "raw"})`). While a rotated-out secret is in its grace period its
 *   signature is sent too, space-separated, as the spec allows: receivers holding either secret verify.
 *   GitHub style: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret string, body)>`, made with the
 *   current secret only (the header holds one signature; GitHub-style receivers compare it whole).
 * webhook-id and webhook-timestamp go out unsigned too: receivers de-duplicate on the id.
 */
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export const WEBHOOK_ID = 'webhook-id';
export const WEBHOOK_TIMESTAMP = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE = 'webhook-signature';
export const HUB_SIGNATURE = 'X-Hub-Signature-256';

/** The standardwebhooks signer of a secret (kept: parsing the key costs more than signing a body). */
const signers = new Map<string, Webhook>();

function signer(secret: string): Webhook {
  let webhook = signers.get(secret);
  if (!webhook) {
    webhook = secret.startsWith('whsec_') && secret.length > 6 ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
    if (signers.size > 100) signers.clear();
    signers.set(secret, webhook);
  }
  return webhook;
}

/** The headers that identify and sign one attempt; `secrets`: current first (signing.ts header comment). */
export function signatureHeaders(deliveryId: string, at: Date, body: Buffer, secrets: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {
    [WEBHOOK_ID]: deliveryId,
    [WEBHOOK_TIMESTAMP]: String(Math.floor(at.getTime() / 1000)),
  };
  if (secrets.length === 0) return headers;
  headers[WEBHOOK_SIGNATURE] = secrets.map((s) => signer(s).sign(deliveryId, at, body)).join(' ');
  headers[HUB_SIGNATURE] = `sha256=${createHmac('sha256', secrets[0]!).update(body).digest('hex')}`;
  return headers;
}

/** GET /api/tls/ca.crt: the CA of Berth's own HTTPS certificates, for clients to trust (PEM). */
import { RegistryError } from '../../registry/errors.ts';
import type { Ctx } from '../context.ts';

export function tlsHandlers(tls: { caCertificate(): string | null }) {
  return {
    async getCaCertificate(ctx: Ctx): Promise<void> {
      const pem = tls.caCertificate();
      if (!pem) {
        throw new RegistryError('NOT_FOUND', { message: 'Berth serves no certificate of its own: TLS is off, or the certificate is your own' });
      }
      ctx.set('Content-Type', 'application/x-pem-file');
      ctx.set('Content-Disposition', 'attachment; filename="berth-ca.crt"');
      ctx.body = Buffer.from(pem);
    },
  };
}

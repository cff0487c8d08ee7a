/**
 * The token endpoint (/token), the authorization server of Docker token auth:
 *   GET  (distribution docs/spec/auth/token.md): Basic credentials or none; ?service, repeated ?scope,
 *        ?account, ?client_id, ?offline_token=true (adds a refresh_token).
 *   POST (docs/spec/auth/oauth.md, RFC 6749): form-encoded grant_type=password (username, password)
 *        or grant_type=refresh_token (refresh_token); service, client_id, space-separated scope,
 *        access_type=offline (adds a refresh_token to a password grant).
 *   POST /token/revoke (RFC 7009): form token=<refresh or access token>: ends it (the UI's sign-out);
 *        200 whether or not it was valid, as §2.2 asks.
 * Answers {token, access_token, expires_in, issued_at[, refresh_token]} (POST adds the granted `scope`).
 * client_id is shown by `berth token list`: printable ASCII up to 100 characters, else 400.
 * What is granted is the intersection of what is asked and what the user may do; asking for more is
 * not an error (token.md). Wrong credentials: GET 401 with a Basic challenge; POST 400 INVALID_GRANT
 * (RFC 6749 §5.2), which also keeps browsers from popping up their own login dialog. Too many failed
 * logins: 429 with Retry-After. Secrets only ever travel in headers and bodies here; the request log
 * writes the path alone, never the query or the headers.
 */
import getRawBody from 'raw-body';
import { AuthError } from '../auth/errors.ts';
import type { IssuedToken } from '../auth/jwt.ts';
import { SERVICE } from '../auth/jwt.ts';
import { formatScope, parseScopes } from '../auth/scope.ts';
import { clientIdProblem, type AuthService, type Principal } from '../auth/service.ts';
import { RegistryError } from '../registry/errors.ts';
import { WWW_AUTHENTICATE } from './auth.ts';
import { sendJson, singleQuery, type Ctx } from './context.ts';
import type { Route } from './routes.ts';

const BASIC_CHALLENGE = 'Basic realm="Berth registry", charset="UTF-8"';
/** A token request form is a few hundred bytes; this is room for many scopes and nothing more. */
const MAX_FORM_BYTES = 64 * 1024;

export function tokenRoutes(auth: AuthService): Route[] {
  const handlers = tokenHandlers(auth);
  return [
    { method: 'GET', pattern: /^\/token$/, params: [], handler: handlers.getToken },
    { method: 'POST', pattern: /^\/token$/, params: [], handler: handlers.postToken },
    { method: 'POST', pattern: /^\/token\/revoke$/, params: [], handler: handlers.revokeToken },
  ];
}

/** The Basic credentials of an Authorization header; null without one, UNAUTHORIZED when malformed. */
export function basicCredentials(header: string, endpoint = 'the token endpoint'): { username: string; password: string } | null {
  if (header === '') return null;
  const encoded = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(header)?.[1];
  const decoded = encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon <= 0) {
    throw new RegistryError('UNAUTHORIZED', {
      message: `${endpoint} takes Basic credentials (user name and password or access token)`,
      headers: { [WWW_AUTHENTICATE]: BASIC_CHALLENGE },
    });
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function checkService(service: string | undefined): void {
  if (service !== undefined && service !== SERVICE) {
    throw new RegistryError('BAD_REQUEST', { message: `unknown service "${service.slice(0, 100)}": this registry's service is "${SERVICE}"` });
  }
}

function checkedClientId(value: string | undefined): string {
  const clientId = value ?? 'unknown';
  const problem = clientIdProblem(clientId);
  if (problem) throw new RegistryError('BAD_REQUEST', { message: problem });
  return clientId;
}

/** A form-encoded body (RFC 6749 §4.3.2), with a getter for fields that may appear once. */
async function readForm(ctx: Ctx): Promise<{ form: URLSearchParams; field(name: string): string | undefined }> {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new RegistryError('BAD_REQUEST', { message: `POST ${ctx.path} takes an application/x-www-form-urlencoded form (RFC 6749 §4.3.2)` });
  }
  let text: string;
  try {
    text = new TextDecoder().decode(await getRawBody(ctx.req, { limit: MAX_FORM_BYTES })); // as json-body.ts
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') throw new RegistryError('TOO_LARGE', { message: `the form is larger than ${MAX_FORM_BYTES} bytes` });
    throw err;
  }
  const form = new URLSearchParams(text);
  return {
    form,
    field(name) {
      const values = form.getAll(name);
      if (values.length > 1) throw new RegistryError('BAD_REQUEST', { message: `form field "${name}" must be given once` });
      return values[0];
    },
  };
}

function requestedScopes(values: string[]) {
  try {
    return parseScopes(values);
  } catch (err) {
    throw asRegistryError(err, 'get');
  }
}

/** The registry error for a failed login; GET and POST differ only for wrong credentials (see top). */
export function asRegistryError(err: unknown, form: 'get' | 'post'): unknown {
  if (!(err instanceof AuthError)) return err;
  switch (err.kind) {
    case 'invalid-credentials':
      return form === 'get'
        ? new RegistryError('UNAUTHORIZED', { message: err.message, headers: { [WWW_AUTHENTICATE]: BASIC_CHALLENGE } })
        : new RegistryError('INVALID_GRANT', { message: err.message });
    case 'invalid-grant':
      return new RegistryError('INVALID_GRANT', { message: err.message });
    case 'throttled':
      return new RegistryError('TOOMANYREQUESTS', { message: err.message, headers: { 'Retry-After': String(err.retryAfterSeconds) } });
    default:
      return new RegistryError('BAD_REQUEST', { message: err.message });
  }
}

function tokenBody(issued: IssuedToken, refreshToken: string | null) {
  return {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt.toISOString(),
    ...(refreshToken !== null ? { refresh_token: refreshToken } : {}),
  };
}

function sendToken(ctx: Ctx, body: unknown): void {
  // RFC 6749 §5.1: responses carrying tokens must not be cached.
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  sendJson(ctx, body);
}

export function tokenHandlers(auth: AuthService) {
  return {
    async getToken(ctx: Ctx): Promise<void> {
      checkService(singleQuery(ctx, 'service'));
      const scopeParam = ctx.query.scope;
      const scopes = requestedScopes(scopeParam === undefined ? [] : Array.isArray(scopeParam) ? scopeParam : [scopeParam]);
      const offline = singleQuery(ctx, 'offline_token') === 'true';
      const clientId = checkedClientId(singleQuery(ctx, 'client_id'));
      const account = singleQuery(ctx, 'account');
      const credentials = basicCredentials(ctx.get('Authorization'));
      if (credentials && account !== undefined && account !== credentials.username) {
        throw new RegistryError('BAD_REQUEST', { message: `account "${account.slice(0, 100)}" is not the user name of the credentials` });
      }
      let principal: Principal;
      if (credentials) {
        try {
          principal = await auth.login(credentials.username, credentials.password, ctx.ip);
        } catch (err) {
          throw asRegistryError(err, 'get');
        }
      } else if (auth.anonymousPull) {
        principal = auth.anonymous();
      } else {
        throw new RegistryError('UNAUTHORIZED', {
          message: 'anonymous access is off: log in with a user name and password or access token',
          headers: { [WWW_AUTHENTICATE]: BASIC_CHALLENGE },
        });
      }
      const issued = await auth.issue(principal, scopes);
      const refresh = offline && principal.subject !== '' ? await auth.createRefreshToken(principal, clientId) : null;
      sendToken(ctx, tokenBody(issued, refresh));
    },

    async postToken(ctx: Ctx): Promise<void> {
      const { form, field } = await readForm(ctx);
      checkService(field('service'));
      const scopes = requestedScopes(form.getAll('scope'));
      const clientId = checkedClientId(field('client_id'));
      const grantType = field('grant_type');
      let principal: Principal;
      let refresh: string | null = null;
      try {
        if (grantType === 'password') {
          const username = field('username');
          const password = field('password');
          if (!username || password === undefined) {
            throw new RegistryError('BAD_REQUEST', { message: 'grant_type=password needs username and password' });
          }
          principal = await auth.login(username, password, ctx.ip);
          if (field('access_type') === 'offline') refresh = await auth.createRefreshToken(principal, clientId);
        } else if (grantType === 'refresh_token') {
          const token = field('refresh_token');
          if (!token) throw new RegistryError('BAD_REQUEST', { message: 'grant_type=refresh_token needs refresh_token' });
          principal = await auth.redeemRefreshToken(token, ctx.ip);
          // oauth.md: a refresh grant answers with the same refresh token, never a new one.
          refresh = token;
        } else {
          throw new RegistryError('BAD_REQUEST', {
            message: grantType === undefined ? 'grant_type is missing (password or refresh_token)' : `unsupported grant_type "${grantType.slice(0, 50)}" (password or refresh_token)`,
          });
        }
      } catch (err) {
        throw asRegistryError(err, 'post');
      }
      const issued = await auth.issue(principal, scopes);
      sendToken(ctx, { ...tokenBody(issued, refresh), scope: issued.access.map(formatScope).join(' ') });
    },

    async revokeToken(ctx: Ctx): Promise<void> {
      const { field } = await readForm(ctx);
      const token = field('token');
      if (!token) throw new RegistryError('BAD_REQUEST', { message: 'POST /token/revoke needs token=<the refresh token> (RFC 7009 §2.1)' });
      await auth.revokeSecret(token);
      sendToken(ctx, {});
    },
  };
}

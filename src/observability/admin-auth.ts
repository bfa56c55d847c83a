/**
 * Access to the admin pages (`/admin/queues`, the reviewer page) with `AUDIT_TOKEN`: either an
 * `Authorization: Bearer <token>` header (scripts) or a session cookie set by a small login form
 * (browsers). The cookie holds an expiry and an HMAC of it keyed by the token, never the token: a
 * leaked cookie expires, and rotating the token ends every session. Comparisons are constant-time.
 * The cookie is `HttpOnly` (no script reads it) and `SameSite=Strict` (no other site can make the
 * browser send it, which is the CSRF defence for the dashboard's buttons).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeHtml } from '../shared/html.ts';

export interface AdminAuthOptions {
  /** `AUDIT_TOKEN`. Unset or empty: every admin route answers 503 saying how to enable it. */
  readonly token: string | undefined;
  /** How long a login lasts. @default 43200000 (12 h) */
  readonly sessionMs?: number;
  /** Adds `Secure` to the cookie (set it when served over HTTPS). @default false */
  readonly secureCookie?: boolean;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** A route of the web process (structurally `WebRoute` of src/bot/web-routes.ts). */
export interface AdminRoute {
  readonly method: readonly string[];
  readonly path: string;
  readonly prefix?: boolean;
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
}

export interface AdminAuth {
  /** Whether `AUDIT_TOKEN` is set. */
  readonly enabled: boolean;
  /**
   * True when the request carries the token or a valid session. Otherwise it has answered: 503
   * when admin access is disabled, a redirect to the login form for a browser, 401 for the rest.
   */
  requireAdmin(req: IncomingMessage, res: ServerResponse): boolean;
  /** `GET`/`POST /admin/login` and `POST /admin/logout`. */
  readonly routes: readonly AdminRoute[];
}

export const ADMIN_COOKIE = 'rb_admin';
export const LOGIN_PATH = '/admin/login';
const LOGIN_BODY_LIMIT = 4_096;

/** Builds the checks and the login routes for one token. */
export function createAdminAuth(options: AdminAuthOptions): AdminAuth {
  const token = options.token?.trim() || undefined;
  const sessionMs = options.sessionMs ?? 12 * 3_600_000;
  const clock = options.clock ?? Date.now;
  const mac = (text: string) => createHmac('sha256', token ?? '').update(text).digest();
  const isToken = (candidate: string) => token !== undefined && timingSafeEqual(mac(`bearer:${candidate}`), mac(`bearer:${token}`));
  const newSession = () => {
    const expires = Math.floor((clock() + sessionMs) / 1_000);
    return `${expires}.${mac(`session:${expires}`).toString('base64url')}`;
  };
  const isSession = (value: string) => {
    const [expires, signature] = value.split('.');
    if (!expires || !signature || !/^\d{1,12}$/.test(expires) || Number(expires) * 1_000 <= clock()) return false;
    const expected = mac(`session:${expires}`);
    const given = Buffer.from(signature, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const cookie = (value: string, maxAgeS: number) =>
    `${ADMIN_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${options.secureCookie ? '; Secure' : ''}`;

  const requireAdmin = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (!token) {
      sendText(res, 503, 'admin pages are disabled: set AUDIT_TOKEN to enable them (then sign in at /admin/login or send Authorization: Bearer <AUDIT_TOKEN>)');
      return false;
    }
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined && isToken(bearer)) return true;
    const session = readCookie(req.headers.cookie, ADMIN_COOKIE);
    if (session !== undefined && isSession(session)) return true;
    if (bearer === undefined && wantsHtml(req) && req.method === 'GET') {
      res.writeHead(303, { location: `${LOGIN_PATH}?next=${encodeURIComponent(req.url ?? '/')}`, 'cache-control': 'no-store' }).end();
      return false;
    }
    res.setHeader('www-authenticate', 'Bearer realm="runbook-bot admin"');
    sendText(res, 401, `not signed in: send Authorization: Bearer <AUDIT_TOKEN>, or sign in at ${LOGIN_PATH}`);
    return false;
  };

  const login: AdminRoute = {
    method: ['GET', 'POST'],
    path: LOGIN_PATH,
    handler: async (req, res) => {
      if (!token) return void sendText(res, 503, 'admin pages are disabled: set AUDIT_TOKEN to enable them');
      const next = safeNext(new URL(req.url ?? '/', 'http://local').searchParams.get('next'));
      if (req.method === 'GET') return void sendHtml(res, 200, loginPage(next, false));
      const form = new URLSearchParams((await readLimited(req, LOGIN_BODY_LIMIT)).toString('utf8'));
      const target = safeNext(form.get('next') ?? next);
      if (!isToken(form.get('token') ?? '')) return void sendHtml(res, 401, loginPage(target, true));
      res.writeHead(303, { location: target, 'set-cookie': cookie(newSession(), Math.floor(sessionMs / 1_000)), 'cache-control': 'no-store' }).end();
    },
  };
  const logout: AdminRoute = {
    method: ['POST'],
    path: '/admin/logout',
    handler: (_req, res) => void res.writeHead(303, { location: LOGIN_PATH, 'set-cookie': cookie('', 0) }).end(),
  };
  return { enabled: token !== undefined, requireAdmin, routes: [login, logout] };
}

/** The value of one cookie in a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/** Only a local path may be a redirect target (never `//host` or `https://…`). */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\') ? next : '/admin/queues';
}

function wantsHtml(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('text/html');
}

function sendText(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(`${message}\n`);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" }).end(html);
}

async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}


function loginPage(next: string, failed: boolean): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Runbook Bot admin</title></head>
<body style="font-family:sans-serif;max-width:24rem;margin:4rem auto">
<h1>Runbook Bot admin</h1>
${failed ? '<p role="alert" style="color:#b00">That token is not AUDIT_TOKEN.</p>' : ''}
<form method="post" action="${LOGIN_PATH}">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<label>AUDIT_TOKEN <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button>
</form></body></html>`;
}

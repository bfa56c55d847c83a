import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminAuth, ADMIN_COOKIE } from '../../../src/observability/admin-auth.ts';
import { listenOnLoopback, type LoopbackServer } from '../../../src/sandbox/loopback-server.ts';

const TOKEN = 'admin-token-0123456789abcdef';

async function serve(token: string | undefined, clock = () => Date.now()) {
  const auth = createAdminAuth({ token, clock, sessionMs: 60_000 });
  return listenOnLoopback((req, res) => {
    const route = auth.routes.find((r) => (req.url ?? '').split('?')[0] === r.path && r.method.includes(req.method ?? ''));
    if (route) return void route.handler(req, res);
    if (auth.requireAdmin(req, res)) res.writeHead(200, { 'content-type': 'text/plain' }).end('secret area');
  });
}

describe('createAdminAuth', () => {
  let server: LoopbackServer;
  let now = Date.now();
  beforeAll(async () => {
    server = await serve(TOKEN, () => now);
  });
  afterAll(() => server.close());

  describe('when a request has no credentials', () => {
    it('answers 401 to scripts and sends browsers to the login form', async () => {
      const script = await fetch(`${server.base}/admin/queues`);
      expect(script.status).toBe(401);
      expect(script.headers.get('www-authenticate')).toContain('Bearer');
      const browser = await fetch(`${server.base}/admin/queues`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      expect(browser.status).toBe(303);
      expect(browser.headers.get('location')).toBe('/admin/login?next=%2Fadmin%2Fqueues');
    });
  });

  describe('when a bearer token is sent', () => {
    it('lets the right token through and refuses a wrong one of any length', async () => {
      expect((await fetch(`${server.base}/admin/queues`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect((await fetch(`${server.base}/admin/queues`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
      expect((await fetch(`${server.base}/admin/queues`, { headers: { authorization: 'Bearer a' } })).status).toBe(401);
    });
  });

  describe('when a person signs in with the form', () => {
    it('sets an HttpOnly SameSite=Strict cookie that is not the token and grants access until it expires', async () => {
      const login = await fetch(`${server.base}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN, next: '/admin/queues' }), redirect: 'manual' });
      expect(login.status).toBe(303);
      expect(login.headers.get('location')).toBe('/admin/queues');
      const setCookie = login.headers.get('set-cookie') ?? '';
      expect(setCookie).toContain('HttpOnly');
      expect(setCookie).toContain('SameSite=Strict');
      expect(setCookie).not.toContain(TOKEN);
      const cookie = setCookie.split(';')[0] ?? '';
      expect(cookie.startsWith(`${ADMIN_COOKIE}=`)).toBe(true);
      expect((await fetch(`${server.base}/admin/queues`, { headers: { cookie } })).status).toBe(200);
      // Change the first character of the MAC (its last one carries padding bits base64 ignores).
      const dot = cookie.indexOf('.') + 1;
      const forged = `${cookie.slice(0, dot)}${cookie[dot] === 'A' ? 'B' : 'A'}${cookie.slice(dot + 1)}`;
      expect((await fetch(`${server.base}/admin/queues`, { headers: { cookie: forged } })).status).toBe(401);
      now += 120_000;
      expect((await fetch(`${server.base}/admin/queues`, { headers: { cookie } })).status).toBe(401);
    });

    it('refuses a wrong token and never redirects off the site', async () => {
      const wrong = await fetch(`${server.base}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: 'nope' }), redirect: 'manual' });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('set-cookie')).toBeNull();
      const offsite = await fetch(`${server.base}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN, next: '//evil.example/' }), redirect: 'manual' });
      expect(offsite.headers.get('location')).toBe('/admin/queues');
    });
  });

  describe('when AUDIT_TOKEN is not set', () => {
    it('answers 503 saying how to enable the admin pages, even to a bearer', async () => {
      const closed = await serve(undefined);
      try {
        const res = await fetch(`${closed.base}/admin/queues`, { headers: { authorization: 'Bearer ' } });
        expect(res.status).toBe(503);
        expect(await res.text()).toContain('set AUDIT_TOKEN');
      } finally {
        await closed.close();
      }
    });
  });
});

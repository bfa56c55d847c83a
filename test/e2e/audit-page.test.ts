/**
 * The reviewer page in headless Chromium: sign in, filter the runs, open one, see who approved it,
 * what each executor was asked and answered, and the runbook source; hostile text stays text.
 * Runs are real (engine + Redis + SQLite audit store); the page reads only the audit store.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditPageRoutes, auditPageSource } from '../../src/bot/audit-page/routes.ts';
import { createWebRequestListener, sendJson } from '../../src/bot/web-routes.ts';
import { createAdminAuth } from '../../src/observability/admin-auth.ts';
import { listenOnLoopback, type LoopbackServer } from '../../src/sandbox/loopback-server.ts';
import { createTestEngine, type TestEngine } from '../helpers/engine.ts';
import { APPROVE_THEN_APPLY_STEPS } from '../helpers/runbooks.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'audit-token-for-tests-0123456789';
// The README's screenshots: `SCREENSHOT_DIR=docs/screenshots npx vitest run test/e2e/audit-page.test.ts` refreshes them.
const SCREENSHOTS = `${process.env['SCREENSHOT_DIR'] ? join(fileURLToPath(new URL('../../', import.meta.url)), process.env['SCREENSHOT_DIR']) : join(tmpdir(), 'runbook-audit-screenshots')}/`;

const GATED = `---
id: gated-change
title: Gated change
params:
  target: { type: string }
---
# Gated change

${APPROVE_THEN_APPLY_STEPS}`;

const CHECK = `---
id: read-only-check
title: Read-only check
---
# Read-only check

## Look {#look}
\`\`\`record
label: look
timeout: 10s
\`\`\`
`;

const HOSTILE = '<img src=x onerror=alert(1)><script>alert(2)</script>';

describe.skipIf(!existsSync(CHROMIUM))('the /audit reviewer page', () => {
  let t: TestEngine;
  let server: LoopbackServer;
  let browser: Browser;
  let gatedRunId: string;

  beforeAll(async () => {
    t = await createTestEngine();
    const gated = await t.runtime.engine.startRun({ file: 'gated-change.md', source: GATED, params: { target: HOSTILE }, requester: { id: 'UREQUESTER', name: 'requester' } });
    gatedRunId = gated.id;
    await t.waitFor(gated.id, (run) => run.snapshot.context.steps['approve']?.status === 'awaiting_approval');
    await t.runtime.engine.send(gated.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'U0LEAD', name: 'lead' } });
    await t.settled(gated.id);
    const check = await t.runtime.engine.startRun({ file: 'read-only-check.md', source: CHECK, params: {}, requester: { id: 'cli:alice' } });
    await t.settled(check.id);
    const auth = createAdminAuth({ token: TOKEN });
    server = await listenOnLoopback(createWebRequestListener([...auth.routes, ...auditPageRoutes({ auth, source: auditPageSource(t.audit) })], (_req, res) => sendJson(res, 404, {}), () => undefined));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await t?.close();
  });

  describe('when a reviewer signs in and opens a run', () => {
    it('filters the runs, shows the approval, the executor calls and the source, and runs no injected script', async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
      });

      await page.goto(`${server.base}/audit`);
      expect(page.url()).toBe(`${server.base}/admin/login?next=%2Faudit`);
      await page.fill('input[name=token]', 'wrong-token');
      await page.click('button[type=submit]');
      await expect(page.locator('[role=alert]').textContent()).resolves.toContain('not AUDIT_TOKEN');

      await page.fill('input[name=token]', TOKEN);
      await page.click('button[type=submit]');
      expect(page.url()).toBe(`${server.base}/audit`);
      await expect(page.locator('.verify.ok').textContent()).resolves.toContain('Chain verified');
      expect(await page.locator('table.runs tbody tr[data-run]').count()).toBe(2);
      await page.screenshot({ path: `${SCREENSHOTS}audit-runs.png`, fullPage: true });

      await page.fill('input[name=runbook]', 'gated-change');
      await page.click('form.filters button[type=submit]');
      const rows = page.locator('table.runs tbody tr[data-run]');
      expect(await rows.count()).toBe(1);
      await expect(rows.first().getAttribute('data-run')).resolves.toBe(gatedRunId);

      await rows.first().locator('a').click();
      expect(page.url()).toBe(`${server.base}/audit/runs/${gatedRunId}`);
      await expect(page.locator('ul.approvals li').first().textContent()).resolves.toMatch(/Approved by U0LEAD/);
      await expect(page.locator('dl.facts').textContent()).resolves.toContain('UREQUESTER');
      await expect(page.locator('tr.t-step-started').first().textContent()).resolves.toContain('record');
      await expect(page.locator('pre.source').textContent()).resolves.toContain('## Apply {#apply}');
      // The hostile param is shown as text, never as markup.
      await expect(page.locator('dl.facts pre.json').textContent()).resolves.toContain(HOSTILE);
      expect(await page.locator('img[src=x]').count()).toBe(0);
      await page.screenshot({ path: `${SCREENSHOTS}audit-run.png`, fullPage: true });

      expect(dialogs).toEqual([]);
      expect(violations).toEqual([]);
      await page.close();
    }, 60_000);
  });

  describe('when a client calls without signing in', () => {
    it('redirects browsers to the login form and refuses a wrong bearer token', async () => {
      const anonymous = await fetch(`${server.base}/audit`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(anonymous.status).toBe(303);
      expect(anonymous.headers.get('location')).toBe('/admin/login?next=%2Faudit');
      const css = await fetch(`${server.base}/audit/static/style.css`);
      expect(css.headers.get('content-security-policy')).toContain("default-src 'none'");

      expect((await fetch(`${server.base}/audit`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      const ok = await fetch(`${server.base}/audit/runs/${gatedRunId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-security-policy')).toContain("default-src 'none'");
      const body = await ok.text();
      expect(body).not.toContain('<script>alert');
      expect(body).toContain('&lt;script&gt;alert(2)&lt;/script&gt;');
      expect(body).not.toContain(TOKEN);
    });
  });
});

/**
 * The sandbox console in headless Chromium: `runbook dev`'s stack started in-process (embedded
 * Redis in a temp DATA_DIR, every stand-in, the bot with its workers), the page driven as a person
 * would: a slash command typed in the composer, Approve clicked as another simulated user, the run
 * message updating live, the executors' calls in the side panel. The shipped runbooks are used,
 * with the rollback's 2-minute settle shortened so the file stays well under a minute.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevStack, type DevStack } from '../../src/dev/dev-stack.ts';
import { slackSignature } from '../../src/sandbox/slack-requests.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The README's screenshots: `SCREENSHOT_DIR=docs/screenshots npx vitest run test/e2e/console.test.ts` refreshes them.
const SCREENSHOTS = process.env['SCREENSHOT_DIR'] ? join(ROOT, process.env['SCREENSHOT_DIR']) : join(tmpdir(), 'runbook-console-screenshots');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`console.test.ts skipped: ${CHROMIUM} is missing (install the chromium package to run the console tests)`);

let dir: string;
let stack: DevStack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-console-e2e-'));
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  for (const file of readdirSync(join(ROOT, 'runbooks')).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(ROOT, 'runbooks', file), 'utf8');
    writeFileSync(join(runbooks, file), file === 'rollback-model.md' ? text.replace(/^for: 2m$/m, 'for: 1s') : text);
  }
  const io = { stdout: () => undefined, stderr: () => undefined, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, PORT: '0', DATA_DIR: join(dir, 'var'), RUNBOOKS_DIR: runbooks, LOG_LEVEL: 'warn' }, cwd: ROOT };
  stack = await startDevStack({ env: io.env, cwd: ROOT, io });
  if (!hasChromium) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

const runMessage = () => page.locator('#messages > .message:not(.ephemeral)').filter({ hasText: 'Roll back a model deployment' }).first();

describe.skipIf(!hasChromium)('the sandbox console', () => {
  describe('when it is opened', () => {
    it('serves the page under a strict Content-Security-Policy and lists the stand-in workspace', async () => {
      const response = await page.goto(stack.consoleUrl);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
      const html = await response?.text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/\son[a-z]+=/i);
      await expect.poll(() => page.locator('#channel-list li').allTextContents()).toContain('# ml-incidents');
      expect(await page.locator('#user-picker option').allTextContents()).toEqual(expect.arrayContaining(['Alice Requester (@alice)', 'Bob Approver (@bob)']));
      expect(await page.locator('#channel-title').textContent()).toBe('#ml-incidents');
    });
  });

  describe('when a person asks for help', () => {
    it('shows the reply as only visible to them', async () => {
      await page.selectOption('#user-picker', 'U0REQUEST1');
      await page.fill('#composer-input', '/runbook help');
      await page.press('#composer-input', 'Enter');
      const reply = page.locator('.message.ephemeral');
      await reply.first().waitFor({ timeout: 15_000 });
      expect(await reply.first().locator('.only-you').textContent()).toBe('Only visible to you');
      await page.selectOption('#user-picker', 'U0APPROVE1');
      await expect.poll(() => page.locator('.message.ephemeral').count()).toBe(0);
      await page.selectOption('#user-picker', 'U0REQUEST1');
    });
  });

  describe('when alice types /runbook rollback model-x and bob approves', () => {
    it('shows the run message with its Approve button, then updates it live until the run succeeds', async () => {
      await page.fill('#composer-input', '/runbook rollback model-x');
      await page.press('#composer-input', 'Enter');
      const approve = runMessage().locator('button[data-action-id="runbook.approve"]');
      await approve.waitFor({ timeout: 20_000 });
      expect(await approve.textContent()).toBe('Approve');
      await page.screenshot({ path: join(SCREENSHOTS, 'console-approval.png') });

      await page.selectOption('#user-picker', 'U0APPROVE1');
      await runMessage().locator('button[data-action-id="runbook.approve"]').click();
      await expect.poll(() => runMessage().textContent(), { timeout: 20_000 }).toMatch(/approved by @bob/);

      // The last step is a manual one: watching dashboards, marked done from the message.
      const done = runMessage().locator('button[data-action-id="runbook.done"]');
      await done.waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(SCREENSHOTS, 'console-rollback.png') });
      await done.click();
      await expect.poll(() => runMessage().locator('.block-header').textContent(), { timeout: 20_000 }).toMatch(/^✅/);
      expect(await runMessage().textContent()).toMatch(/Succeeded/);
      expect(stack.sandbox.state.serving.servingVersion('model-x')).toBe('v41');
      await page.screenshot({ path: join(SCREENSHOTS, 'console-succeeded.png') });
    }, 60_000);

    it('lists the rollback call the executor made in the side panel', async () => {
      const serving = page.locator('#call-list li[data-system="serving-control"]');
      await expect.poll(() => serving.allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('POST /v1/models/model-x/deployment{"version":"v41"}')]));
    });
  });

  describe('when the PagerDuty button is clicked', () => {
    it('creates the incident in the PagerDuty stand-in and delivers a signed webhook the bot accepts', async () => {
      await page.click('#trigger-incident');
      await expect.poll(() => page.locator('#incident-list li').allTextContents(), { timeout: 15_000 }).toEqual([expect.stringContaining('High p99 latency on model-x')]);
      expect(await page.locator('#notice').textContent()).toMatch(/signed webhook with HTTP 2\d\d/);
      expect(stack.sandbox.state.pagerduty.incidents.map((i) => i.service.summary)).toEqual(['model-serving']);
    });
  });

  describe('when a command lacks a required param', () => {
    it('shows the bot\'s form as a dialog, shows its validation errors, and starts the run on a valid submission', async () => {
      await page.selectOption('#user-picker', 'U0REQUEST1');
      await page.fill('#composer-input', '/runbook latency');
      await page.press('#composer-input', 'Enter');
      const dialog = page.locator('#modal');
      await dialog.waitFor({ state: 'visible', timeout: 15_000 });
      const input = dialog.locator('.input-block input').first();
      await input.fill('Not A Model!');
      await dialog.locator('#modal-submit').click();
      await expect.poll(() => dialog.locator('.field-error').first().textContent(), { timeout: 10_000 }).not.toBe('');
      await page.screenshot({ path: join(SCREENSHOTS, 'console-modal.png') });
      await input.fill('model-x');
      await dialog.locator('#modal-submit').click();
      await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
      await page.locator('#messages > .message').filter({ hasText: 'Diagnose' }).first().waitFor({ timeout: 20_000 });
    }, 45_000);
  });

  describe('when a message carries markup', () => {
    it('shows it as text, never as HTML', async () => {
      const posted = await fetch(`${stack.sandbox.env['SLACK_API_URL']}chat.postMessage`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.sandbox.env['SLACK_BOT_TOKEN']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'C0MLINC001', text: '*bold* <img src=x onerror=alert(1)> <script>alert(2)</script> <https://example.com|a link>' }),
      });
      expect(((await posted.json()) as { ok: boolean }).ok).toBe(true);
      const message = page.locator('#messages > .message').filter({ hasText: 'alert(2)' });
      await message.waitFor({ timeout: 10_000 });
      expect(await message.locator('img, script').count()).toBe(0);
      expect(await message.locator('strong').textContent()).toBe('bold');
      expect(await message.locator('a').getAttribute('href')).toBe('https://example.com');
    });
  });

  describe('when a request to /slack/events is not signed by Slack', () => {
    it('is refused and starts nothing', async () => {
      const before = stack.sandbox.state.slack.messagesIn('C0MLINC001').length;
      const body = new URLSearchParams({ command: '/runbook', text: 'rollback model-x', user_id: 'U0REQUEST1', user_name: 'alice', channel_id: 'C0MLINC001', team_id: 'T0TEAM0001', response_url: 'http://127.0.0.1:9/x', trigger_id: '1.2.3' }).toString();
      const unsigned = await fetch(`http://127.0.0.1:${stack.port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      expect(unsigned.status).toBe(401);
      const now = Math.floor(Date.now() / 1000);
      const forged = await fetch(`http://127.0.0.1:${stack.port}/slack/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(now), 'x-slack-signature': slackSignature('not-the-secret', now, body) },
        body,
      });
      expect(forged.status).toBe(401);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(stack.sandbox.state.slack.messagesIn('C0MLINC001')).toHaveLength(before);
    });
  });
});

describe('the console API', () => {
  const api = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${stack.port}/console/api/${path}`, init);

  describe('when another site posts to it', () => {
    it('refuses a cross-origin or non-JSON request and sends nothing to the bot', async () => {
      const before = stack.sender.responses.length;
      const body = JSON.stringify({ user: 'U0REQUEST1', channel: 'C0MLINC001', text: '/runbook help' });
      const crossSite = await api('command', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body });
      expect(crossSite.status).toBe(403);
      expect(((await crossSite.json()) as { message: string }).message).toMatch(/evil\.example.* may not drive the console/);
      const form = await api('command', { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
      expect(form.status).toBe(403);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(stack.sender.responses).toHaveLength(before);
    });
  });

  describe('when the input is wrong', () => {
    it('answers 400 saying what was expected', async () => {
      const badUser = await api('command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'nobody', channel: 'C0MLINC001', text: '/runbook help' }) });
      expect(badUser.status).toBe(400);
      expect(((await badUser.json()) as { message: string }).message).toMatch(/^user: a Slack id such as U0REQUEST1/);
      const plainText = await api('command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'U0REQUEST1', channel: 'C0MLINC001', text: 'hello' }) });
      expect(plainText.status).toBe(400);
      expect(((await plainText.json()) as { message: string }).message).toMatch(/only slash commands reach the bot here/);
      const notJson = await api('action', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
      expect(notJson.status).toBe(400);
      expect((await fetch(`http://127.0.0.1:${stack.port}/console/static/../routes.ts`)).status).toBe(404);
    });
  });
});

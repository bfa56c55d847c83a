/**
 * `runbook dev` as a person starts it: one child process prints the console URL, serves the
 * console and the bot, and stops everything on Ctrl-C (SIGINT) with exit 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/processes.ts';

const BIN = fileURLToPath(new URL('../../bin/runbook.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'runbook-dev-cli-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runDev(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, 'dev', ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('runbook dev', () => {
  describe('when started and then interrupted', () => {
    it('prints the console URL, serves it, and stops everything on SIGINT', async () => {
      const port = await freePort();
      const dataDir = join(dir, 'var');
      const dev = runDev([], { PORT: String(port), DATA_DIR: dataDir });
      const deadline = Date.now() + 40_000;
      while (!dev.output().stdout.includes('Ctrl-C stops everything') && Date.now() < deadline && dev.child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      expect(dev.output().stdout).toContain(`console      http://localhost:${port}/console`);
      const page = await fetch(`http://127.0.0.1:${port}/console`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(await page.text()).toContain('<script type="module" src="/console/static/console.js"></script>');
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // The same web process as `runbook web`: its metrics come along.
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/process="dev"/);
      dev.child.kill('SIGINT');
      expect(await dev.exited).toBe(0);
      // The embedded Redis went with it: its pidfile is gone.
      expect(existsSync(join(dataDir, 'redis', 'embedded.pid'))).toBe(false);
    }, 60_000);
  });

  describe('when run as npm run demo does, with --exit', () => {
    it('plays every stage of the scripted incident and exits 0', async () => {
      const port = await freePort();
      const dev = runDev(['--demo', '--exit'], { PORT: String(port), DATA_DIR: join(dir, 'demo') });
      const code = await dev.exited;
      const { stdout } = dev.output();
      expect(stdout, stdout).toContain('✓ Demo complete.');
      expect(code).toBe(0);
      for (const line of [
        /delivered the signed webhook incident\.triggered → the bot answered HTTP 202/,
        /#inc-\S+ created by the bot/,
        /findings posted as a PagerDuty note .* serving and traffic untouched/,
        /POST \/v1\/models\/model-x\/deployment \{"version":"v41"\} .* model-x now serves v41 \(was v42\)/,
        /shows the incident resolved/,
        /✓ \d+ audit records, hash chain intact/,
      ]) expect(stdout).toMatch(line);
    }, 90_000);
  });

  describe('when --exit is given without --demo', () => {
    it('exits 2 saying how to use it', async () => {
      const dev = runDev(['--exit'], {});
      expect(await dev.exited).toBe(2);
      expect(dev.output().stderr).toContain('runbook dev: --exit only applies with --demo');
    });
  });
});

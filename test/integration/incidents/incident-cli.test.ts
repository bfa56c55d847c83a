import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { REDIS_URL } from '../../helpers/engine.ts';

/** Runs `runbook …` in this process against the test Redis under a fresh prefix; captures its output. */
function cli(env: Record<string, string>) {
  return async (...argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env, cwd: env['DATA_DIR'] ?? tmpdir() });
    return { code, stdout, stderr };
  };
}

describe('runbook incident', () => {
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'runbook-incident-cli-'));
  const run = cli({ REDIS_URL, RUNBOOK_REDIS_PREFIX: prefix, DATA_DIR: dataDir, RUNBOOKS_DIR: dataDir, USER: 'dana' });
  let id = '';

  beforeAll(async () => {
    const declared = await run('incident', 'declare', 'Checkout', 'p99', '|', 'above', '2s', '--severity', 'sev1', '--as', 'dana');
    expect(declared.stderr).toBe('');
    id = /declared (INC-\d+)/.exec(declared.stdout)?.[1] ?? '';
  });

  afterAll(async () => {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('when a scripted incident is acknowledged, noted and resolved', () => {
    it('prints a postmortem-ready Markdown timeline', async () => {
      expect(id).toMatch(/^INC-\d+$/);
      expect(await run('incident', 'ack', id.toLowerCase(), '--as', 'erin')).toMatchObject({ code: 0, stdout: `${id} is acknowledged\n` });
      const again = await run('incident', 'ack', id, '--as', 'frank');
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('was already acknowledged by erin');
      expect((await run('incident', 'note', id, 'rolled', 'back', 'model-x', '--as', 'erin')).code).toBe(0);
      expect((await run('incident', 'resolve', id, '--resolution', 'rollback to v6', '--as', 'erin')).stdout).toBe(`${id} is resolved\n`);

      const md = await run('incident', 'timeline', id, '--format', 'md');
      expect(md.code).toBe(0);
      const text = md.stdout;
      expect(text).toMatch(new RegExp(`^# ${id}: Checkout p99 \\\\\\| above 2s\\n`));
      expect(text).toContain('| Severity | SEV1 |');
      expect(text).toMatch(/\| Acknowledged \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by erin \(cli:erin\) \(time to acknowledge [^)]+\) \|/);
      expect(text).toMatch(/\| Resolved \| .* UTC by erin \(cli:erin\) \(time to resolve [^)]+\) \|/);
      expect(text).toContain('| Resolution | rollback to v6 |');
      const rows = text.split('## Timeline (UTC)')[1]?.trim().split('\n').slice(2).map((r) => r.split(' | ').slice(1, 3)) ?? [];
      expect(rows).toEqual([
        ['incident.triggered', 'dana (cli:dana)'],
        ['incident.acknowledged', 'erin (cli:erin)'],
        ['note.added', 'erin (cli:erin)'],
        ['incident.resolved', 'erin (cli:erin)'],
      ]);

      const json = JSON.parse((await run('incident', 'timeline', id, '--format', 'json')).stdout) as { status: string; acknowledged: { by: { id: string } } };
      expect(json).toMatchObject({ status: 'resolved', acknowledged: { by: { id: 'cli:erin' } } });
    });

    it('lists and shows it', async () => {
      const list = JSON.parse((await run('incident', 'list', '--format', 'json')).stdout) as { id: string; status: string }[];
      expect(list).toEqual([expect.objectContaining({ id, status: 'resolved', severity: 'sev1' })]);
      expect((await run('incident', 'show', id)).stdout).toContain('resolved:     erin');
    });
  });

  describe('when the request is wrong', () => {
    it('says what was expected, exit 2, and changes nothing', async () => {
      const badSeverity = await run('incident', 'declare', 'x', '--severity', 'sev9');
      expect(badSeverity).toMatchObject({ code: 2 });
      expect(badSeverity.stderr).toContain('--severity must be one of sev1, sev2, sev3; got "sev9"');
      const missing = await run('incident', 'ack', 'INC-99999');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('no incident INC-99999');
      expect((await run('incident', 'frobnicate')).code).toBe(2);
      const list = JSON.parse((await run('incident', 'list', '--format', 'json')).stdout) as unknown[];
      expect(list).toHaveLength(1);
    });
  });
});

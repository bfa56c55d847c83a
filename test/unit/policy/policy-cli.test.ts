import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: { RUNBOOKS_DIR: 'runbooks', ...env }, cwd: ROOT };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

const EXPLAIN = ['policy', 'explain', '--file', 'policy.example.yaml', '--runbook', 'rollback-model', '--param', 'model=ranker'];

describe('runbook policy', () => {
  describe('when checking a valid policy', () => {
    it('prints a clean summary and exits 0', async () => {
      expect(await cli(['policy', 'check', '--file', 'policy.example.yaml'])).toEqual({ code: 0, stdout: 'policy.example.yaml: 0 errors, 0 warnings\n', stderr: '' });
    });
  });

  describe('when checking a policy with problems', () => {
    it('prints each as file:line:col and exits 1', async () => {
      const result = await cli(['policy', 'check'], { POLICY_FILE: 'test/fixtures/policy/schema-errors.yaml' });
      expect(result.code).toBe(1);
      expect(result.stdout.split('\n').filter((l) => /^test\/fixtures\/policy\/schema-errors\.yaml:\d+:\d+ error/.test(l))).toHaveLength(4);
      expect(result.stdout).toContain('schema-errors.yaml: 4 errors, 0 warnings');
    });
  });

  describe('when there is no policy file to check', () => {
    it('says the built-in defaults apply and exits 2', async () => {
      const result = await cli(['policy', 'check', '--file', 'no-such-policy.yaml']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('built-in defaults apply');
    });
  });

  describe('when explaining a mutating run inside a freeze window', () => {
    it('shows the denial, the window, the rule line and who can help', async () => {
      const result = await cli([...EXPLAIN, '--user', 'U0ONCALL1', '--groups', '@ml-oncall', '--at', '2026-12-24T10:00:00Z']);
      expect(result.code).toBe(3);
      expect(result.stdout).toContain('decision:  DENY\n');
      expect(result.stdout).toContain('rule:      policy.example.yaml:50 year-end\n');
      expect(result.stdout).toContain('freeze:    year-end is on (Europe/Berlin;');
      expect(result.stdout).toContain('help:      @sre-leads, U024BE7LH, cli:alice\n');
    });
  });

  describe('when explaining a break-glass run against a runbook whose gate has one approver', () => {
    it('says what the gate lacks', async () => {
      const result = await cli([...EXPLAIN, '--user', 'U0ONCALL1', '--groups', '@ml-oncall', '--at', '2026-12-24T10:00:00Z', '--break-glass']);
      expect(result.stdout).toContain('rule:      policy.example.yaml:48 freeze.break_glass\n');
      expect(result.stdout).toContain('gate `approve` asks for 1 approval, the policy needs 2');
    });
  });

  describe('when explaining a run outside any freeze for someone not allowed', () => {
    it('names the run rule that denies', async () => {
      const result = await cli([...EXPLAIN, '--user', 'U0INTERN1', '--at', '2026-06-10T10:00:00Z', '--format', 'json']);
      const report = JSON.parse(result.stdout) as { decision: { outcome: string; rule: string } };
      expect(report.decision).toMatchObject({ outcome: 'deny', rule: 'policy.example.yaml:14 interns-no-changes' });
    });
  });

  describe('when --at is not a time', () => {
    it('exits 2 with the expected form', async () => {
      const result = await cli([...EXPLAIN, '--user', 'U1', '--at', 'christmas']);
      expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining('--at must be a time such as 2026-12-24T10:00:00Z') });
    });
  });
});

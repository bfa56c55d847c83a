import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { FIXTURES } from '../../helpers/runbooks.ts';

const root = new URL('../../../', import.meta.url).pathname;

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {}, cwd: root });
  return { code, stdout, stderr };
}

describe('runbook CLI', () => {
  describe('lint', () => {
    it('passes the shipped runbooks (the Procfile release phase)', async () => {
      const result = await cli('lint', 'runbooks/');
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toContain('5 runbooks checked: 0 errors, 0 warnings, 5 clean');
    });

    it('exits 1 on errors and prints file:line:col with what was expected', async () => {
      const result = await cli('lint', join(FIXTURES, 'unknown-executor-in-undo.md'));
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/unknown-executor-in-undo\.md:8:13 error \[unknown-executor\] .*expected one of `http`/);
    });

    it('exits 0 when there are only warnings', async () => {
      const result = await cli('lint', join(FIXTURES, 'mutating-without-safety.md'));
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('warning [mutating-without-undo]');
    });

    it('reports JSON with --format json', async () => {
      const result = await cli('lint', '--format', 'json', join(FIXTURES, 'duplicate-step-ids.md'));
      const report = JSON.parse(result.stdout) as { errors: number; files: { ok: boolean; diagnostics: { code: string }[] }[] };
      expect(report.errors).toBe(1);
      expect(report.files[0]?.diagnostics[0]?.code).toBe('duplicate-step-id');
    });

    it('gives a diagnostic for hostile files instead of crashing', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'runbook-lint-'));
      writeFileSync(join(dir, 'empty.md'), '');
      writeFileSync(join(dir, 'binary.md'), Buffer.from([0, 1, 2, 255, 254, 0, 7]));
      writeFileSync(join(dir, 'bad-yaml.md'), '---\nparams: [unclosed\n---\n## Step\n');
      const result = await cli('lint', dir).finally(() => rmSync(dir, { recursive: true, force: true }));
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/empty\.md:1:1 error \[empty-runbook\]/);
      expect(result.stdout).toMatch(/binary\.md:\d+:\d+ error \[not-text\]/);
      expect(result.stdout).toMatch(/bad-yaml\.md:\d+:\d+ error \[yaml-syntax\]/);
    });
  });

  describe('plan', () => {
    it('prints every step with resolved inputs and marks run-time values', async () => {
      const result = await cli('plan', 'rollback', '--param', 'model=model-x');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('→ GET https://serving-control.ml.internal/v1/models/model-x/deployment');
      expect(result.stdout).toContain('to: ⟨steps.resolved.output.version⟩');
      expect(result.stdout).toContain('[rollback, MUTATING]');
      expect(result.stdout).toContain('Nothing was executed.');
    });

    it('refuses bad params with one line each and exit 2', async () => {
      const result = await cli('plan', 'rollback-model', '--param', 'model=x; rm -rf /', '--param', 'colour=blue');
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines).toEqual(expect.arrayContaining([expect.stringContaining('param `model` must match'), expect.stringContaining('unknown param `colour`')]));
    });

    it('names a missing required param', async () => {
      const result = await cli('plan', 'rollback-model');
      expect(result).toMatchObject({ code: 2 });
      expect(result.stderr).toContain('missing required param `model`');
    });

    it('refuses an unknown runbook, listing the known ones', async () => {
      const result = await cli('plan', 'rollbak');
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/unknown runbook `rollbak`.*rollback-model/);
    });
  });

  describe('graph', () => {
    it('prints a Mermaid state diagram with every step and final state', async () => {
      const result = await cli('graph', 'runbooks/rollback-model.md');
      expect(result.code).toBe(0);
      expect(result.stdout.startsWith('stateDiagram-v2\n')).toBe(true);
      for (const state of ['current', 'approve', 'rollback', 'rolling_back', 'succeeded', 'rolled_back', 'cancelled']) expect(result.stdout).toContain(`state "${state}"`);
      expect(result.stdout).toContain('run_steps_approve_awaiting_approval --> run_steps_rollback : approval.granted');
    });

    it('prints the machine as JSON with --format json', async () => {
      const result = await cli('graph', 'rollback-model', '--format', 'json');
      expect(JSON.parse(result.stdout)).toMatchObject({ id: 'run', states: { steps: { states: { rollback: {} } } } });
    });
  });

  it('rejects an unknown command with exit 2', async () => {
    expect(await cli('deploy')).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command `deploy`') });
  });

  it('runs as the package bin from a clean checkout (npx runbook --help)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'bin/runbook.mjs'), '--help'], { cwd: root });
    expect(stdout).toContain('Usage: runbook <command>');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { generateDigestKeys, parseDigestKey } from '../../../src/audit/digest.ts';
import type { AuditRecordInput } from '../../../src/audit/record.ts';
import { main } from '../../../src/cli/main.ts';
import { sqliteBackend, type OpenedStore } from './backends.ts';

const backend = sqliteBackend();
afterEach(() => backend.cleanup());

async function runCli(opened: OpenedStore, args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(['audit', ...args], { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: { ...opened.env, ...env }, cwd: process.cwd() });
  return { code, stdout, stderr };
}

const RUN: AuditRecordInput[] = [
  { id: 'r1.1.0', at: Date.UTC(2024, 4, 1, 12), runId: 'r1', incidentId: 'PINC1', runbookId: 'rollback', runbookHash: 'c'.repeat(64), actor: 'U1REQ', type: 'run.started', data: { runbook: 'rollback', costCenter: 'ml-platform', params: { model: 'fraud, "v2"', note: 'line1\nline2' } } },
  { id: 'r1.2.0', at: Date.UTC(2024, 4, 1, 12, 5), runId: 'r1', runbookId: 'rollback', actor: 'U2APP', type: 'approval.granted', data: { stepId: 'approve', by: { id: 'U2APP' } } },
  { id: 'r1.2.1', at: Date.UTC(2024, 4, 1, 12, 5), runId: 'r1', runbookId: 'rollback', actor: 'system', type: 'step.started', data: { kind: 'step.run', stepId: 'roll', phase: 'do', attempt: 1, executor: 'rollback', input: { model: 'fraud' } } },
  { id: 'r1.3.0', at: Date.UTC(2024, 4, 1, 12, 6), runId: 'r1', runbookId: 'rollback', actor: 'system', type: 'step.succeeded', data: { stepId: 'roll', output: { version: 'v1' }, cost: [{ unit: 'instance_seconds', amount: 42.5 }] } },
  { id: 'r1.3.1', at: Date.UTC(2024, 4, 1, 12, 6), runId: 'r1', runbookId: 'rollback', actor: 'system', type: 'run.finished', data: { kind: 'run.finished', status: 'succeeded' } },
  { id: 'r2.1.0', at: Date.UTC(2024, 4, 2), runId: 'r2', runbookId: 'failover', actor: 'cli:alice', type: 'run.started', data: { runbook: 'failover', params: {} } },
];

describe('runbook audit', () => {
  describe('list', () => {
    it('filters by actor, type prefix and time, as text and JSON', async () => {
      const opened = await backend.open();
      await opened.store.append(RUN);
      const text = await runCli(opened, ['list', '--type', 'run.', '--since', '2024-05-01T12:01:00Z']);
      expect(text.code).toBe(0);
      expect(text.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/)[3])).toEqual(['run.finished', 'run.started']);
      const json = await runCli(opened, ['list', '--actor', 'cli:alice', '--format', 'json']);
      expect(JSON.parse(json.stdout)).toMatchObject([{ id: 'r2.1.0', seq: 6 }]);
      expect((await runCli(opened, ['list', '--runs'])).stdout).toMatch(/^r2 {2}failover {2}active {2}requested by cli:alice.*\nr1 {2}rollback {2}succeeded {2}requested by U1REQ/);
    });

    it('rejects a bad time with exit 2, saying what it expected', async () => {
      const opened = await backend.open();
      expect(await runCli(opened, ['list', '--since', 'yesterday'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--since must be an ISO time') });
    });
  });

  describe('show', () => {
    it('prints the run timeline: request with params, approval by whom, executor call and answer, final state, runbook hash', async () => {
      const opened = await backend.open();
      await opened.store.append(RUN);
      const { code, stdout } = await runCli(opened, ['show', 'r1']);
      expect(code).toBe(0);
      expect(stdout).toContain(`runbook     rollback  (source sha256 ${'c'.repeat(64)})`);
      expect(stdout).toContain('final state succeeded');
      expect(stdout).toContain('2024-05-01T12:00:00.000Z  #1  U1REQ  requested rollback with params {"model":"fraud, \\"v2\\"","note":"line1\\nline2"}');
      expect(stdout).toContain('#2  U2APP  APPROVED approve');
      expect(stdout).toContain('step roll (do, attempt 1) called rollback with {"model":"fraud"}');
      expect(stdout).toContain('step roll succeeded, output {"version":"v1"}');
    });

    it('exits 1 for a run with no records', async () => {
      const opened = await backend.open();
      expect(await runCli(opened, ['show', 'nope'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no audit records for run "nope"') });
    });
  });

  describe('export', () => {
    it('writes CSV with fields holding commas and quotes quoted, one row per record', async () => {
      const opened = await backend.open();
      await opened.store.append(RUN);
      const { stdout } = await runCli(opened, ['export', '--format', 'csv', '--run', 'r1']);
      const lines = stdout.split('\r\n');
      expect(lines[0]).toBe('seq,at,time,run_id,incident_id,actor,type,runbook_id,runbook_hash,cost_center,cost,data,prev_hash,hash');
      expect(stdout).toContain(',ml-platform,,"{""costCenter"":""ml-platform"",""params"":{""model"":""fraud, \\""v2\\"""",""note"":""line1\\nline2""},""runbook"":""rollback""}",');
      expect(lines.find((line) => line.includes('step.succeeded'))).toContain(',,42.5 instance_seconds,');
      expect(lines.filter((line) => /^\d+,/.test(line))).toHaveLength(5);
    });

    it('writes JSON Lines that parse back to the stored records, and a Markdown table', async () => {
      const opened = await backend.open();
      const stored = await opened.store.append(RUN);
      const jsonl = await runCli(opened, ['export', '--format', 'jsonl']);
      expect(jsonl.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual(stored);
      const md = await runCli(opened, ['export', '--format', 'md', '--runbook', 'failover']);
      expect(md.stdout).toContain('| 6 | 2024-05-02T00:00:00.000Z | r2 | cli:alice | run.started |');
    });
  });

  describe('verify', () => {
    it('exits 0 on an intact chain and warns when no key is configured', async () => {
      const opened = await backend.open();
      await opened.store.append(RUN);
      const { code, stdout } = await runCli(opened, ['verify']);
      expect(code).toBe(0);
      expect(stdout).toContain('ok: 6 record(s) verified');
      expect(stdout).toContain('warning: no AUDIT_SIGNING_KEY');
    });

    it('checks digest signatures with the reviewers\' public key', async () => {
      const keys = generateDigestKeys('ed25519');
      const opened = await backend.open({ signingKey: parseDigestKey(keys.signingKey) });
      await opened.store.append(RUN);
      const { code, stdout } = await runCli(opened, ['verify'], { AUDIT_VERIFY_KEY: keys.verifyKey });
      expect(code).toBe(0);
      expect(stdout).toContain('digests: 1 signature(s) checked');
      expect(stdout).not.toContain('warning');
    });
  });

  describe('keygen', () => {
    it('prints a signing key the store accepts and a verify key', async () => {
      const opened = await backend.open();
      const { code, stdout } = await runCli(opened, ['keygen']);
      expect(code).toBe(0);
      const signing = /AUDIT_SIGNING_KEY=(\S+)/.exec(stdout)?.[1] ?? '';
      const verify = /AUDIT_VERIFY_KEY=(\S+)/.exec(stdout)?.[1] ?? '';
      expect(parseDigestKey(signing).keyId).toBe(parseDigestKey(verify).keyId);
    });

    it('refuses a bad AUDIT_SIGNING_KEY without echoing it', async () => {
      const opened = await backend.open();
      const result = await runCli(opened, ['verify'], { AUDIT_SIGNING_KEY: 'hmac-sha256:c2VjcmV0' });
      expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining('AUDIT_SIGNING_KEY') });
      expect(result.stderr).not.toContain('c2VjcmV0');
    });
  });
});

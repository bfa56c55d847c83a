import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isEngineError } from '../../../src/engine/errors.ts';
import { createTestEngine, finished, type TestEngine } from '../../helpers/engine.ts';

const RUNBOOK = `---
params:
  target: { type: string, pattern: "^[a-z0-9-]+$" }
  token: { type: string, secret: true, required: false }
concurrency: "target:{{ params.target }}"
---
# Engine test

## First {#first}
\`\`\`record
label: "first {{ params.target }} {{ params.token | default: '' }}"
timeout: 10s
undo: { label: "undo first" }
\`\`\`

## Flaky {#flaky}
\`\`\`fail
times: 2
retries: 3
backoff: 100ms
timeout: 10s
\`\`\`

## Approve {#approve}
\`\`\`approve
\`\`\`

## Last {#last}
\`\`\`record
label: "last"
timeout: 10s
undo: { label: "undo last" }
\`\`\`
`;

describe('engine', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await createTestEngine();
  });
  afterEach(async () => {
    await t.close();
  });

  const start = (params: Record<string, string> = { target: 'alpha' }) =>
    t.runtime.engine.startRun({ file: 'engine-test.md', source: RUNBOOK, params, requester: { id: 'UREQ' } });

  describe('when a run goes through retries and an approval', () => {
    it('finishes with every side effect once and a complete, verifiable audit trail', async () => {
      const run = await start({ target: 'alpha', token: 's3cr3t-token' });
      const waiting = await t.waitFor(run.id, (r) => r.snapshot.context.steps['approve']?.status === 'awaiting_approval');
      expect(waiting.snapshot.context.steps['flaky']).toMatchObject({ status: 'succeeded', attempt: 3 });
      const self = await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'UREQ' } });
      expect(self).toMatchObject({ applied: false, reason: 'self_approval' });
      await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'UAPPROVER' } });
      const done = await t.settled(run.id);
      expect(done.status).toBe('succeeded');
      expect((await t.state.effects()).map((e) => e.label)).toEqual(['first alpha s3cr3t-token', 'last']);

      const records = await t.audit.list({ runId: run.id });
      const types = records.map((r) => r.type);
      expect(types[0]).toBe('run.started');
      expect(types).toContain('event.ignored');
      expect(types.filter((x) => x === 'step.started')).toHaveLength(5); // first, flaky ×3, last
      expect(types.at(-1)).toBe('run.finished');
      expect(JSON.stringify(records)).not.toContain('s3cr3t-token');
      expect(await t.audit.verify()).toMatchObject({ ok: true });
      // Write-ahead: a step's start is on record before its result.
      const started = records.findIndex((r) => r.type === 'step.started' && (r.data as { stepId: string }).stepId === 'last');
      const succeeded = records.findIndex((r) => r.type === 'step.succeeded' && (r.data as { stepId: string }).stepId === 'last');
      expect(started).toBeGreaterThan(-1);
      expect(succeeded).toBeGreaterThan(started);
    });
  });

  describe('when a second run asks for the same concurrency key', () => {
    it('is refused, naming the active run, until the first finishes', async () => {
      const first = await start();
      const refused = await start().catch((e: unknown) => e);
      expect(isEngineError(refused, 'run_concurrency_conflict')).toBe(true);
      expect((refused as Error).message).toContain(first.id);
      expect((await start({ target: 'beta' })).status).toBe('active');
      await t.runtime.engine.send(first.id, { type: 'run.cancel', by: { id: 'UREQ' } });
      await t.waitFor(first.id, finished);
      expect((await start()).status).toBe('active');
    });
  });

  describe('when params are wrong', () => {
    it('refuses with every problem and starts nothing', async () => {
      const error = await start({ target: 'Bad Target!' }).catch((e: unknown) => e);
      expect(isEngineError(error, 'runbook_param_invalid')).toBe(true);
      expect((error as Error).message).toContain('param `target` must match');
      expect(await t.runtime.engine.store.list()).toEqual([]);
    });
  });

  describe('when the run is cancelled while waiting for approval', () => {
    it('ends cancelled and ignores later events, recording them', async () => {
      const run = await start();
      await t.waitFor(run.id, (r) => r.snapshot.context.steps['approve']?.status === 'awaiting_approval');
      await t.runtime.engine.send(run.id, { type: 'run.cancel', by: { id: 'UREQ' }, reason: 'wrong target' });
      expect((await t.waitFor(run.id, finished)).status).toBe('cancelled');
      const late = await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'UAPPROVER' } });
      expect(late).toMatchObject({ applied: false, reason: 'run_finished' });
      const ignored = await t.audit.list({ runId: run.id, type: 'event.ignored' });
      expect(ignored.some((r) => (r.data as { reason: string }).reason === 'run_finished')).toBe(true);
    });
  });

  describe('when the process dies between committing a transition and draining its outbox', () => {
    it('the reconciler appends the audit records and dispatches the effects', async () => {
      const run = await start();
      await t.waitFor(run.id, (r) => r.snapshot.context.steps['approve']?.status === 'awaiting_approval');
      // Commit a transition the way send() does, but "crash" before draining.
      const current = await t.runtime.engine.getRun(run.id);
      if (!current) throw new Error('run vanished');
      const { applyEvent } = await import('../../../src/machines/run-machine.ts');
      const { compileRunbook } = await import('../../../src/machines/compile.ts');
      const machine = compileRunbook(t.runtime.engine.runbookOf(current));
      const stepped = applyEvent(machine, current.snapshot, { type: 'approval.granted', stepId: 'approve', by: { id: 'UAPPROVER' } });
      const committed = await t.runtime.engine.store.commit(current, stepped.snapshot, 'active', { version: current.version + 1, records: [{ id: `${run.id}.crash.0`, at: Date.now(), runId: run.id, actor: 'UAPPROVER', type: 'approval.granted', data: {} }], effects: stepped.effects }, Date.now());
      expect(committed).toBe(true);
      const done = await t.waitFor(run.id, finished);
      expect(done.status).toBe('succeeded');
      expect((await t.audit.list({ runId: run.id })).some((r) => r.id === `${run.id}.crash.0`)).toBe(true);
    });
  });
});

/**
 * A process killed while draining a run's outbox leaves the run's drain lock behind; until it
 * expires nobody else drains that run (one drainer at a time keeps its effects in order). The
 * SIGKILL drill in faults-worker.test.ts hits this at random; here it is set up deterministically:
 * the lock is taken the way every drainer takes it, by a "process" that then never releases it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DRAIN_LOCK_MS } from '../../../src/engine/engine.ts';
import { createTestEngine, type TestEngine } from '../../helpers/engine.ts';

const fence = '```';
const RUNBOOK = `---
title: Drain lock drill
---
# Drain lock drill

## Before {#before}
${fence}record
label: before
timeout: 60s
${fence}

## Approve {#approve}
${fence}approve
${fence}

## After {#after}
${fence}record
label: after
timeout: 60s
${fence}
`;

describe('engine when a process died while draining a run', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await createTestEngine();
  });
  afterEach(async () => {
    await t.close();
  });

  describe('when its drain lock is left behind and the run moves on', () => {
    it('the reconciler drains the run within seconds, with its audit trail complete', async () => {
      const run = await t.runtime.engine.startRun({ file: 'drain-lock-drill.md', source: RUNBOOK, params: {}, requester: { id: 'UREQ' } });
      await t.waitFor(run.id, (r) => r.snapshot.context.steps['approve']?.status === 'awaiting_approval');
      // Take the lock as a drainer that then dies would (waiting out any drain still in progress).
      const deadline = Date.now() + 10_000;
      while (!(await t.runtime.engine.store.outbox.lock(run.id, 'a-process-that-was-killed', DRAIN_LOCK_MS))) {
        if (Date.now() > deadline) throw new Error('the drain lock never came free');
        await new Promise((r) => setTimeout(r, 20));
      }

      const grantedAt = Date.now();
      const granted = await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'UAPPROVER' } });
      expect(granted.applied).toBe(true);
      const done = await t.settled(run.id, 30_000);
      const tookMs = Date.now() - grantedAt;
      expect(done.status).toBe('succeeded');
      // Comparable to a killed worker's stalled step job (lockDuration + stalledInterval), not 30 s.
      expect(tookMs).toBeLessThan(10_000);

      expect((await t.state.effects()).map((e) => e.key)).toEqual([`${run.id}/before/do/1`, `${run.id}/after/do/1`]);
      const types = (await t.audit.list({ runId: run.id })).map((r) => r.type);
      expect(types).toContain('approval.granted');
      expect(types.filter((type) => type === 'step.started')).toHaveLength(2);
      expect(types.filter((type) => type === 'step.succeeded')).toHaveLength(2);
      expect(types.at(-1)).toBe('run.finished');
      expect(await t.audit.verify()).toMatchObject({ ok: true });
    }, 40_000);
  });
});

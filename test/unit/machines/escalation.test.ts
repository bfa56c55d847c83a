import { describe, expect, it } from 'vitest';
import type { Effect } from '../../../src/machines/run-types.ts';
import { alice, bob, load, RunDriver, valid } from '../../helpers/runbooks.ts';

const gated = (approval: string) => valid(`---
approval:
${approval}
---
# Gate

## Approve {#approve}
\`\`\`approve
message: go?
\`\`\`

## Deploy {#deploy}
\`\`\`run
argv: [deploy]
timeout: 1m
\`\`\`
`);

const LADDER = `  quorum: 1
  expires: 30m
  escalation:
    - after: 10m
      notify: ["@ml-oncall-leads"]
    - after: 20m
      page: { escalation_policy: PABC123 }`;

const of = <K extends Effect['kind']>(effects: readonly Effect[], kind: K) => effects.filter((e): e is Extract<Effect, { kind: K }> => e.kind === kind);

describe('the SLA escalation ladder', () => {
  describe('when an approval starts waiting', () => {
    it('schedules one escalation timer per rung with a deterministic id', () => {
      const run = new RunDriver(gated(LADDER));
      expect(of(run.lastEffects, 'timer.schedule')).toEqual(expect.arrayContaining([
        { kind: 'timer.schedule', timerId: 'approve.escalate.0', delayMs: 600_000, purpose: 'escalation', stepId: 'approve' },
        { kind: 'timer.schedule', timerId: 'approve.escalate.1', delayMs: 1_200_000, purpose: 'escalation', stepId: 'approve' },
        { kind: 'timer.schedule', timerId: 'approve.approval.expiry', delayMs: 1_800_000, purpose: 'approval-expiry', stepId: 'approve' },
      ]));
    });
  });

  describe('when the approval is granted in time', () => {
    it('cancels every rung and never fires one', () => {
      const run = new RunDriver(gated(LADDER));
      run.send({ type: 'approval.granted', stepId: 'approve', by: bob });
      expect(of(run.lastEffects, 'timer.cancel').map((e) => e.timerId)).toEqual(expect.arrayContaining(['approve.escalate.0', 'approve.escalate.1', 'approve.approval.expiry']));
      expect(run.send({ type: 'timer.fired', timerId: 'approve.escalate.0' })).toBe(false);
      expect(run.effects.some((e) => e.kind === 'escalation.fire')).toBe(false);
    });
  });

  describe('when rungs come due while the approval waits', () => {
    it('emits escalation.fire with the rung targets, records it on the step, then expiry rejects', () => {
      const run = new RunDriver(gated(LADDER));
      expect(run.send({ type: 'timer.fired', timerId: 'approve.escalate.0', at: 1_000 })).toBe(true);
      expect(run.lastEffects).toEqual([{ kind: 'escalation.fire', stepId: 'approve', rung: 0, afterMs: 600_000, waitingFor: 'approval', notify: ['@ml-oncall-leads'] }]);
      expect(run.step('approve')?.status).toBe('awaiting_approval');
      run.send({ type: 'timer.fired', timerId: 'approve.escalate.1', at: 2_000 });
      expect(run.lastEffects).toEqual([{ kind: 'escalation.fire', stepId: 'approve', rung: 1, afterMs: 1_200_000, waitingFor: 'approval', page: { escalationPolicy: 'PABC123' } }]);
      expect(run.step('approve')?.escalations).toEqual([
        { rung: 0, at: 1_000, notify: ['@ml-oncall-leads'] },
        { rung: 1, at: 2_000, page: { escalationPolicy: 'PABC123' } },
      ]);
      run.send({ type: 'timer.fired', timerId: 'approve.approval.expiry' });
      expect(run.status).toBe('rejected');
      expect(run.step('approve')?.error?.code).toBe('approval_expired');
    });

    it('ignores a rung delivered twice', () => {
      const run = new RunDriver(gated(LADDER));
      run.send({ type: 'timer.fired', timerId: 'approve.escalate.0' });
      expect(run.send({ type: 'timer.fired', timerId: 'approve.escalate.0' })).toBe(false);
      expect(of(run.effects, 'escalation.fire')).toHaveLength(1);
    });

    it('cancels only the rungs that have not fired when the wait ends', () => {
      const run = new RunDriver(gated(LADDER));
      run.send({ type: 'timer.fired', timerId: 'approve.escalate.0' });
      run.send({ type: 'approval.rejected', stepId: 'approve', by: bob, reason: 'no' });
      expect(run.status).toBe('rejected');
      expect(of(run.lastEffects, 'timer.cancel').map((e) => e.timerId).sort()).toEqual(['approve.approval.expiry', 'approve.escalate.1']);
    });
  });

  describe('when the gate keeps waiting after expiry (on_expiry: wait)', () => {
    it('still waits, and later rungs still fire', () => {
      const run = new RunDriver(gated(`  expires: 1m\n  on_expiry: wait\n  escalation:\n    - after: 2m\n      notify: ["U024BE7LH"]`));
      expect(run.send({ type: 'timer.fired', timerId: 'approve.approval.expiry' })).toBe(false);
      expect(run.send({ type: 'timer.fired', timerId: 'approve.escalate.0' })).toBe(true);
      expect(run.step('approve')?.status).toBe('awaiting_approval');
    });
  });

  describe('when the runbook sets no ladder', () => {
    const plain = gated('  quorum: 1');

    it('uses the run’s default ladder', () => {
      const run = new RunDriver(plain, { slaDefaults: { approval: [{ afterMs: 5_000, notify: ['@sre'] }] } });
      expect(of(run.lastEffects, 'timer.schedule')).toEqual([{ kind: 'timer.schedule', timerId: 'approve.escalate.0', delayMs: 5_000, purpose: 'escalation', stepId: 'approve' }]);
      run.send({ type: 'timer.fired', timerId: 'approve.escalate.0' });
      expect(run.lastEffects).toMatchObject([{ kind: 'escalation.fire', rung: 0, notify: ['@sre'] }]);
    });

    it('schedules nothing without defaults', () => {
      const run = new RunDriver(plain);
      expect(of(run.lastEffects, 'timer.schedule')).toEqual([]);
    });

    it('prefers the runbook’s own ladder to the defaults', () => {
      const run = new RunDriver(gated(LADDER), { slaDefaults: { approval: [{ afterMs: 5_000, notify: ['@sre'] }] } });
      expect(of(run.lastEffects, 'timer.schedule').map((e) => e.delayMs)).toEqual([1_800_000, 600_000, 1_200_000]);
    });
  });
});

describe('the manual-step SLA', () => {
  const checklist = (manual: string) => valid(`---
${manual}
---
# Checklist

## Drain traffic {#drain}
Move traffic away, then press Done.

## Verify {#verify}
Look at the dashboards.
`);

  describe('when a manual step waits past its rungs and its expiry', () => {
    const runbook = checklist('manual:\n  expires: 30m\n  escalation:\n    - after: 10m\n      notify: ["@ml-oncall-leads"]\n    - after: 20m\n      page: { service: model-serving }');

    it('fires each rung, marks the step overdue at expiry and keeps waiting', () => {
      const run = new RunDriver(runbook);
      expect(of(run.lastEffects, 'timer.schedule').map((e) => [e.timerId, e.purpose])).toEqual([
        ['drain.escalate.0', 'escalation'], ['drain.escalate.1', 'escalation'], ['drain.manual.expiry', 'manual-expiry'],
      ]);
      run.send({ type: 'timer.fired', timerId: 'drain.escalate.0' });
      expect(run.lastEffects).toEqual([{ kind: 'escalation.fire', stepId: 'drain', rung: 0, afterMs: 600_000, waitingFor: 'manual', notify: ['@ml-oncall-leads'] }]);
      run.send({ type: 'timer.fired', timerId: 'drain.escalate.1' });
      run.send({ type: 'timer.fired', timerId: 'drain.manual.expiry' });
      expect(run.lastEffects).toEqual([{ kind: 'escalation.fire', stepId: 'drain', rung: 2, afterMs: 1_800_000, waitingFor: 'manual', expired: true, notify: ['@ml-oncall-leads'] }]);
      expect(run.step('drain')?.status).toBe('awaiting_manual');
      expect(run.step('drain')?.escalations?.at(-1)).toMatchObject({ rung: 2, expired: true });
      expect(run.send({ type: 'timer.fired', timerId: 'drain.manual.expiry' })).toBe(false);
      run.send({ type: 'manual.done', stepId: 'drain', by: alice });
      expect(run.step('drain')?.status).toBe('succeeded');
      expect(run.step('verify')?.status).toBe('awaiting_manual');
    });

    it('cancels the pending rungs and expiry when the step is done in time', () => {
      const run = new RunDriver(runbook);
      run.send({ type: 'manual.done', stepId: 'drain', by: alice });
      expect(of(run.lastEffects, 'timer.cancel').map((e) => e.timerId)).toEqual(['drain.escalate.0', 'drain.escalate.1', 'drain.manual.expiry']);
      expect(run.send({ type: 'timer.fired', timerId: 'drain.escalate.0' })).toBe(false);
    });
  });

  describe('when the runbook sets no manual SLA', () => {
    it('applies the default manual ladder', () => {
      const run = new RunDriver(checklist('title: x'), { slaDefaults: { manual: [{ afterMs: 60_000, notify: ['U024BE7LH'] }] } });
      expect(of(run.lastEffects, 'timer.schedule')).toEqual([{ kind: 'timer.schedule', timerId: 'drain.escalate.0', delayMs: 60_000, purpose: 'escalation', stepId: 'drain' }]);
    });
  });

  describe('when the front matter is linted', () => {
    it('warns about a rung due after expiry, with its line', () => {
      const loaded = load('---\nmanual:\n  expires: 10m\n  escalation:\n    - after: 20m\n      notify: ["@sre"]\n---\n# X\n\n## Do it\nBy hand.\n');
      expect(loaded.runbook).toBeDefined();
      expect(loaded.diagnostics).toEqual([expect.objectContaining({ severity: 'warning', code: 'escalation-after-expiry', location: expect.objectContaining({ line: 5 }) })]);
    });

    it('reports a malformed manual SLA as an error with its line', () => {
      const loaded = load('---\nmanual:\n  escalation:\n    - after: soon\n---\n# X\n\n## Do it\nBy hand.\n');
      expect(loaded.runbook).toBeUndefined();
      expect(loaded.diagnostics).toEqual(expect.arrayContaining([expect.objectContaining({ severity: 'error', location: expect.objectContaining({ line: 4 }) })]));
    });
  });
});

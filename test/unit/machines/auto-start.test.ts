import { describe, expect, it } from 'vitest';
import type { Person } from '../../../src/machines/run-types.ts';
import { alice, bob, RunDriver, valid } from '../../helpers/runbooks.ts';

const pagerduty: Person = { id: 'pagerduty', name: 'PagerDuty' };

const DIAGNOSE = valid(`---
title: Diagnose latency
---
# Diagnose

## Read metrics {#metrics}
\`\`\`http
url: http://metrics.internal/latency
\`\`\`

## Read config {#config}
\`\`\`run
argv: [modelctl, config]
read_only: true
\`\`\`

## Restart serving {#restart}
\`\`\`run
argv: [modelctl, restart]
timeout: 2m
\`\`\`

## Scale up {#scale}
\`\`\`run
argv: [modelctl, scale, "3"]
timeout: 2m
\`\`\`
`);

const autoStarted = () => new RunDriver(DIAGNOSE, { requester: pagerduty, autoStarted: true, autoStartedBy: 'Q1ABC' });

describe('auto-started runs', () => {
  describe('when PagerDuty started the run', () => {
    it('runs the read-only steps, then waits for a person before the first mutating step', () => {
      const run = autoStarted();
      expect(run.lastRun().stepId).toBe('metrics');
      run.succeed({ p99: 900 });
      expect(run.lastRun().stepId).toBe('config');
      run.succeed({ replicas: 1 });
      expect(run.step('restart')?.status).toBe('awaiting_approval');
      expect(run.lastRun().stepId).toBe('config');
      expect(run.lastEffects).toEqual(expect.arrayContaining([
        expect.objectContaining({ kind: 'approval.request', stepId: 'restart', message: 'Started automatically by PagerDuty incident Q1ABC: approve before “Restart serving” changes anything', gate: expect.objectContaining({ quorum: 1, from: [] }) }),
      ]));
    });

    it('runs a mutating step the policy lets run unattended, and gates the next one', () => {
      const run = new RunDriver(DIAGNOSE, { requester: pagerduty, autoStarted: true, autoStartedBy: 'Q1ABC', unattendedSteps: ['restart'] });
      run.succeed();
      run.succeed();
      expect(run.step('restart')?.status).toBe('running');
      expect(run.lastRun().stepId).toBe('restart');
      run.succeed();
      expect(run.step('scale')?.status).toBe('awaiting_approval');
    });

    it('refuses the requester itself as approver', () => {
      const run = autoStarted();
      run.succeed();
      run.succeed();
      expect(run.send({ type: 'approval.granted', stepId: 'restart', by: pagerduty })).toBe(false);
      expect(run.step('restart')?.status).toBe('awaiting_approval');
    });

    it('runs the step once a person approves, and later mutating steps without asking again', () => {
      const run = autoStarted();
      run.succeed();
      run.succeed();
      expect(run.send({ type: 'approval.granted', stepId: 'restart', by: bob, at: 5 })).toBe(true);
      expect(run.kinds()).toEqual(expect.arrayContaining(['approval.recorded', 'approval.closed', 'step.run']));
      expect(run.lastRun()).toMatchObject({ stepId: 'restart', attempt: 1, mutating: true });
      expect(run.step('restart')).toMatchObject({ status: 'running', approvals: [{ by: bob, at: 5 }] });
      run.succeed();
      expect(run.lastRun()).toMatchObject({ stepId: 'scale', mutating: true });
      run.succeed();
      expect(run.status).toBe('succeeded');
    });

    it('is rejected when a person rejects the confirmation', () => {
      const run = autoStarted();
      run.succeed();
      run.succeed();
      run.send({ type: 'approval.rejected', stepId: 'restart', by: bob, reason: 'not now' });
      expect(run.status).toBe('rejected');
      expect(run.step('restart')?.status).toBe('failed');
    });

    it('escalates the confirmation on the default approval ladder', () => {
      const run = new RunDriver(DIAGNOSE, { requester: pagerduty, autoStarted: true, slaDefaults: { approval: [{ afterMs: 60_000, notify: ['@ml-oncall-leads'] }] } });
      run.succeed();
      run.succeed();
      expect(run.lastEffects).toEqual(expect.arrayContaining([{ kind: 'timer.schedule', timerId: 'restart.escalate.0', delayMs: 60_000, purpose: 'escalation', stepId: 'restart' }]));
      run.send({ type: 'timer.fired', timerId: 'restart.escalate.0' });
      expect(run.lastEffects).toEqual([{ kind: 'escalation.fire', stepId: 'restart', rung: 0, afterMs: 60_000, waitingFor: 'approval', notify: ['@ml-oncall-leads'] }]);
      run.send({ type: 'approval.granted', stepId: 'restart', by: bob });
      expect(run.step('restart')?.status).toBe('running');
    });
  });

  describe('when a person approved an explicit approval step earlier', () => {
    it('does not ask again at the mutating step', () => {
      const runbook = valid('# X\n\n## Look {#look}\n```http\nurl: http://x.internal/\n```\n\n## Approve {#approve}\n```approve\nmessage: go?\n```\n\n## Restart {#restart}\n```run\nargv: [restart]\ntimeout: 1m\n```\n');
      const run = new RunDriver(runbook, { requester: pagerduty, autoStarted: true });
      run.succeed();
      run.send({ type: 'approval.granted', stepId: 'approve', by: bob });
      expect(run.lastRun()).toMatchObject({ stepId: 'restart', mutating: true });
      expect(run.step('restart')?.status).toBe('running');
    });
  });

  describe('when a person started the same runbook', () => {
    it('runs the mutating step without an implicit gate', () => {
      const run = new RunDriver(DIAGNOSE, { requester: alice });
      run.succeed();
      run.succeed();
      expect(run.lastRun()).toMatchObject({ stepId: 'restart', mutating: true });
      expect(run.effects.some((e) => e.kind === 'approval.request')).toBe(false);
    });
  });
});

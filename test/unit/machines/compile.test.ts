import { describe, expect, it } from 'vitest';
import { alice, bob, carol, RunDriver, valid } from '../../helpers/runbooks.ts';

const header = (extra = '') => `---\nparams:\n  model: { type: string, pattern: "^[a-z0-9-]+$" }\n${extra}---\n# Test\n`;

const call = (id: string, yaml: string) => `\n## ${id} {#${id}}\n\`\`\`run\n${yaml}\n\`\`\`\n`;

describe('compileRunbook', () => {
  describe('when every step succeeds', () => {
    const runbook = valid(
      header() +
        call('check', 'argv: [modelctl, current, "{{ params.model }}"]\nread_only: true') +
        call('deploy', 'argv: [modelctl, deploy, "{{ steps.check.output.version }}"]\ntimeout: 1m\nundo: { argv: [modelctl, undo] }') +
        '\n## Watch dashboards\nLook at the graphs.\n',
    );

    it('emits each call with resolved input and an idempotency key, then ends succeeded', () => {
      const run = new RunDriver(runbook, { params: { model: 'model-x' } });
      expect(run.lastRun()).toMatchObject({ stepId: 'check', attempt: 1, input: { argv: ['modelctl', 'current', 'model-x'] }, mutating: false, idempotencyKey: ['run1', 'check', 'do', 1] });
      run.succeed({ version: 'v7' });
      expect(run.lastRun()).toMatchObject({ stepId: 'deploy', input: { argv: ['modelctl', 'deploy', 'v7'] }, mutating: true, timeoutMs: 60_000 });
      expect(run.kinds()).toContain('timer.schedule');
      run.succeed({ ok: true });
      expect(run.kinds()).toEqual(expect.arrayContaining(['timer.cancel', 'manual.request']));
      run.send({ type: 'manual.done', stepId: 'watch-dashboards', by: bob });
      expect(run.status).toBe('succeeded');
      expect(run.snapshot.output).toMatchObject({ status: 'succeeded', steps: { check: { status: 'succeeded', output: { version: 'v7' } } } });
      expect(run.lastEffects.at(-1)).toMatchObject({ kind: 'run.finished', status: 'succeeded' });
    });

    it('ignores results of other steps, stale attempts and events after the end', () => {
      const run = new RunDriver(runbook, { params: { model: 'model-x' } });
      expect(run.send({ type: 'step.succeeded', stepId: 'deploy', attempt: 1, output: {} })).toBe(false);
      expect(run.send({ type: 'step.succeeded', stepId: 'check', attempt: 2, output: {} })).toBe(false);
      expect(run.send({ type: 'step.succeeded', stepId: 'check', attempt: 1, phase: 'undo', output: {} })).toBe(false);
      expect(run.step('check')?.status).toBe('running');
      run.succeed({ version: 'v1' });
      run.succeed();
      run.send({ type: 'manual.skipped', stepId: 'watch-dashboards', by: bob });
      expect(run.status).toBe('succeeded');
      expect(run.send({ type: 'run.cancel', by: bob })).toBe(false);
    });
  });

  describe('when a step fails', () => {
    const failing = (onFailure: string, retries = 0) =>
      valid(
        header() +
          call('first', 'argv: [one]\ntimeout: 1m\nundo: { argv: [undo-one] }') +
          '\n## Approve\n```approve\nmessage: go?\n```\n' +
          call('second', `argv: [two]\ntimeout: 30s\nretries: ${retries}\nbackoff: 10s\non_failure: ${onFailure}\nundo: { argv: [undo-two] }`) +
          call('third', 'argv: [three]\ntimeout: 1m\nundo: { argv: [undo-three] }') +
          call('notify-owner', 'argv: [page, owner]'),
      );
    const toSecond = (run: RunDriver) => {
      run.succeed();
      run.send({ type: 'approval.granted', stepId: 'approve', by: bob });
      expect(run.lastRun().stepId).toBe('second');
    };

    it('retries retryable failures with backoff, each attempt with its own key', () => {
      const run = new RunDriver(failing('abort', 2));
      toSecond(run);
      run.fail();
      expect(run.lastEffects).toContainEqual({ kind: 'timer.schedule', timerId: 'second.do.retry.1', delayMs: 10_000, purpose: 'retry', stepId: 'second' });
      run.send({ type: 'timer.fired', timerId: 'second.do.retry.1' });
      expect(run.lastRun()).toMatchObject({ attempt: 2, idempotencyKey: ['run1', 'second', 'do', 2] });
      run.fail();
      expect(run.lastEffects).toContainEqual(expect.objectContaining({ timerId: 'second.do.retry.2', delayMs: 20_000 }));
      run.send({ type: 'timer.fired', timerId: 'second.do.retry.2' });
      run.fail('still-broken');
      expect(run.status).toBe('failed');
      expect(run.snapshot.output).toMatchObject({ failure: { stepId: 'second', error: { code: 'still-broken' } } });
    });

    it('does not retry an error that says it is not retryable', () => {
      const run = new RunDriver(failing('abort', 3));
      toSecond(run);
      run.fail('bad_request', false);
      expect(run.status).toBe('failed');
    });

    it('treats a step timeout as a failure and aborts the call in flight', () => {
      const run = new RunDriver(failing('abort', 1));
      toSecond(run);
      run.send({ type: 'timer.fired', timerId: 'second.do.timeout.1' });
      expect(run.lastEffects).toContainEqual({ kind: 'step.abort', stepId: 'second', phase: 'do', attempt: 1 });
      expect(run.step('second')).toMatchObject({ status: 'retrying', error: { code: 'step_timeout' } });
      expect(run.send({ type: 'timer.fired', timerId: 'second.do.timeout.1' })).toBe(false);
    });

    it('continues with the next step on `continue`', () => {
      const run = new RunDriver(failing('continue'));
      toSecond(run);
      run.fail('boom', false);
      expect(run.lastRun().stepId).toBe('third');
      expect(run.step('second')?.status).toBe('failed');
    });

    it('jumps to the named step on `on_failure: <step>`', () => {
      const run = new RunDriver(failing('notify-owner'));
      toSecond(run);
      run.fail('boom', false);
      expect(run.lastRun().stepId).toBe('notify-owner');
      run.succeed();
      expect(run.status).toBe('succeeded');
    });

    it('undoes the failed call and then the completed steps in reverse order on `rollback`, then ends rolled back', () => {
      const run = new RunDriver(failing('rollback'));
      toSecond(run);
      run.fail('boom', false);
      expect(run.lastRun()).toMatchObject({ stepId: 'second', phase: 'undo', input: { argv: ['undo-two'] } });
      run.succeed();
      expect(run.lastRun()).toMatchObject({ stepId: 'first', phase: 'undo', input: { argv: ['undo-one'] }, idempotencyKey: ['run1', 'first', 'undo', 1] });
      run.succeed();
      expect(run.status).toBe('rolled_back');
      expect(run.snapshot.output).toMatchObject({ status: 'rolled_back', undone: ['second', 'first'], failure: { stepId: 'second' } });
      expect(run.step('first')?.status).toBe('undone');
    });

    it('ends failed, naming the step, when an undo fails', () => {
      const run = new RunDriver(failing('rollback'));
      toSecond(run);
      run.fail('boom', false);
      run.succeed();
      run.fail('undo-broke', false);
      expect(run.status).toBe('failed');
      expect(run.snapshot.output).toMatchObject({ failure: { stepId: 'first', error: { code: 'undo_failed' } } });
      expect(run.step('first')?.status).toBe('undo_failed');
    });
  });

  describe('when a step has a `when` condition', () => {
    const runbook = valid(
      header() +
        call('drift', 'argv: [drift]\nread_only: true') +
        call('page', 'argv: [page]\nread_only: true\nwhen: steps.drift.output.psi > 0.2') +
        call('done', 'argv: [done]\nread_only: true'),
    );

    it('skips the step when the condition is false', () => {
      const run = new RunDriver(runbook);
      run.succeed({ psi: 0.1 });
      expect(run.step('page')?.status).toBe('skipped');
      expect(run.effects).toContainEqual(expect.objectContaining({ kind: 'step.skipped', stepId: 'page' }));
      expect(run.lastRun().stepId).toBe('done');
    });

    it('runs the step when the condition is true', () => {
      const run = new RunDriver(runbook);
      run.succeed({ psi: 0.5 });
      expect(run.lastRun().stepId).toBe('page');
    });
  });

  describe('when a template cannot be resolved at run time', () => {
    it('fails the step without retrying, saying which value was missing', () => {
      const runbook = valid(header() + call('a', 'argv: [a]\nread_only: true') + call('b', 'argv: ["{{ steps.a.output.version }}"]\nread_only: true\nretries: 3'));
      const run = new RunDriver(runbook);
      run.succeed({});
      expect(run.status).toBe('failed');
      expect(run.snapshot.output).toMatchObject({ failure: { stepId: 'b', error: { code: 'template_eval', retryable: false } } });
      expect(JSON.stringify(run.snapshot.output)).toContain('steps.a.output.version');
    });
  });

  describe('when a step needs approval', () => {
    const gate = (args: string, onFailure = '') =>
      valid(header() + call('prep', 'argv: [prep]\ntimeout: 1m\nundo: { argv: [unprep] }') + `\n## Approve {#approve}\n\`\`\`approve\n${args}\n${onFailure}\n\`\`\`\n` + call('act', 'argv: [act]\ntimeout: 1m\nundo: { argv: [unact] }'));

    it('waits for a quorum of distinct approvers, counting a repeat click once', () => {
      const run = new RunDriver(gate('quorum: 2\nfrom: ["@ml-oncall-leads"]\nmessage: "Roll {{ params.model }}?"'), { params: { model: 'm1' } });
      run.succeed();
      expect(run.lastEffects).toContainEqual(expect.objectContaining({ kind: 'approval.request', stepId: 'approve', message: 'Roll m1?' }));
      expect(run.send({ type: 'approval.granted', stepId: 'approve', by: bob })).toBe(true);
      expect(run.send({ type: 'approval.granted', stepId: 'approve', by: bob })).toBe(false);
      expect(run.step('approve')?.status).toBe('awaiting_approval');
      run.send({ type: 'approval.granted', stepId: 'approve', by: carol });
      expect(run.step('approve')).toMatchObject({ status: 'succeeded', output: { approvers: ['UBOB', 'UCAROL'] } });
      expect(run.lastRun().stepId).toBe('act');
    });

    it('refuses the requester and people outside the listed approvers', () => {
      const run = new RunDriver(gate('from: ["@ml-oncall-leads", "UDAVE"]'));
      run.succeed();
      expect(run.send({ type: 'approval.granted', stepId: 'approve', by: alice })).toBe(false);
      expect(run.send({ type: 'approval.granted', stepId: 'approve', by: { id: 'UERIN', groups: ['@other'] } })).toBe(false);
      expect(run.send({ type: 'approval.granted', stepId: 'approve', by: { id: 'UDAVE' } })).toBe(true);
      expect(run.lastRun().stepId).toBe('act');
    });

    it('lets the requester approve only when the runbook allows self-approval', () => {
      const run = new RunDriver(gate('allow_self: true'));
      run.succeed();
      expect(run.send({ type: 'approval.granted', stepId: 'approve', by: alice })).toBe(true);
    });

    it('ends rejected on a rejection, with the reason', () => {
      const run = new RunDriver(gate('quorum: 1'));
      run.succeed();
      run.send({ type: 'approval.rejected', stepId: 'approve', by: bob, reason: 'not during the freeze' });
      expect(run.status).toBe('rejected');
      expect(run.snapshot.context.rejected).toMatchObject({ by: { id: 'UBOB' }, reason: 'not during the freeze', stepId: 'approve' });
      expect(run.lastEffects).toContainEqual({ kind: 'approval.closed', stepId: 'approve', outcome: 'rejected' });
    });

    it('undoes completed steps before ending rejected when the approval says `on_failure: rollback`', () => {
      const run = new RunDriver(gate('quorum: 1', 'on_failure: rollback'));
      run.succeed();
      run.send({ type: 'approval.rejected', stepId: 'approve', by: bob });
      expect(run.lastRun()).toMatchObject({ stepId: 'prep', phase: 'undo' });
      run.succeed();
      expect(run.status).toBe('rejected');
      expect(run.snapshot.output).toMatchObject({ undone: ['prep'], rejectedBy: 'UBOB' });
    });

    it('rejects when the approval expires, or keeps waiting when told to', () => {
      const expiring = new RunDriver(gate('expires: 15m'));
      expiring.succeed();
      expect(expiring.lastEffects).toContainEqual(expect.objectContaining({ kind: 'timer.schedule', timerId: 'approve.approval.expiry', delayMs: 900_000 }));
      expiring.send({ type: 'timer.fired', timerId: 'approve.approval.expiry' });
      expect(expiring.status).toBe('rejected');
      expect(expiring.step('approve')?.error?.code).toBe('approval_expired');

      const waiting = new RunDriver(gate('expires: 15m\non_expiry: wait'));
      waiting.succeed();
      expect(waiting.send({ type: 'timer.fired', timerId: 'approve.approval.expiry' })).toBe(false);
      expect(waiting.step('approve')?.status).toBe('awaiting_approval');
    });
  });

  describe('when the run is cancelled', () => {
    const runbook = (onCancel: string) =>
      valid(header(`on_cancel: ${onCancel}\n`) + call('one', 'argv: [one]\ntimeout: 1m\nundo: { argv: [undo-one] }') + '\n## Approve\n```approve\n```\n' + call('two', 'argv: [two]\ntimeout: 1m\nundo: { argv: [undo-two] }') + '\n## Check\nLook.\n');

    it('aborts the call in flight and ends cancelled, from any waiting state', () => {
      const running = new RunDriver(runbook('stop'));
      running.send({ type: 'run.cancel', by: bob, reason: 'wrong model' });
      expect(running.status).toBe('cancelled');
      expect(running.lastEffects).toEqual(expect.arrayContaining([{ kind: 'step.abort', stepId: 'one', phase: 'do', attempt: 1 }, expect.objectContaining({ kind: 'timer.cancel', timerId: 'one.do.timeout.1' })]));
      expect(running.snapshot.output).toMatchObject({ cancelledBy: 'UBOB' });

      const approving = new RunDriver(runbook('stop'));
      approving.succeed();
      approving.send({ type: 'run.cancel', by: bob });
      expect(approving.status).toBe('cancelled');
      expect(approving.lastEffects).toContainEqual({ kind: 'approval.closed', stepId: 'approve', outcome: 'cancelled' });
    });

    it('undoes completed steps first when the runbook says `on_cancel: rollback`, and ignores a second cancel meanwhile', () => {
      const run = new RunDriver(runbook('rollback'));
      run.succeed();
      run.send({ type: 'approval.granted', stepId: 'approve', by: bob });
      run.succeed();
      run.send({ type: 'run.cancel', by: bob });
      expect(run.lastRun()).toMatchObject({ stepId: 'two', phase: 'undo' });
      expect(run.send({ type: 'run.cancel', by: carol })).toBe(false);
      run.succeed();
      expect(run.lastRun()).toMatchObject({ stepId: 'one', phase: 'undo' });
      run.succeed();
      expect(run.status).toBe('cancelled');
      expect(run.snapshot.output).toMatchObject({ undone: ['two', 'one'] });
    });
  });

  describe('when a step waits', () => {
    it('schedules a timer rather than sleeping, and moves on when it fires', () => {
      const run = new RunDriver(valid(header() + '\n## Settle {#settle}\n```wait\nfor: 2m\n```\n' + call('after', 'argv: [x]\nread_only: true')));
      expect(run.lastEffects).toContainEqual({ kind: 'timer.schedule', timerId: 'settle.wait', delayMs: 120_000, purpose: 'wait', stepId: 'settle' });
      expect(run.send({ type: 'timer.fired', timerId: 'other' })).toBe(false);
      run.send({ type: 'timer.fired', timerId: 'settle.wait' });
      expect(run.lastRun().stepId).toBe('after');
    });
  });
});

describe('compileRunbook with a backfill', () => {
  it('resolves params in the per-partition call but leaves `{{ partition }}` for the executor', () => {
    const runbook = valid(`---
params:
  dataset: { type: string }
---
# Backfill

## Approve
\`\`\`approve
\`\`\`

## Backfill {#backfill}
\`\`\`backfill
dataset: "{{ params.dataset }}"
from: 2026-11-01
to: 2026-11-03
partition: day
call:
  executor: http
  method: POST
  url: "https://pipeline.internal/v1/{{ params.dataset }}/partitions/{{ partition }}"
  json: { partition: "{{ partition }}" }
timeout: 1h
undo:
  executor: http
  method: POST
  url: "https://pipeline.internal/v1/{{ params.dataset }}/discard"
\`\`\`
`);
    const run = new RunDriver(runbook, { params: { dataset: 'user-features' } });
    run.send({ type: 'approval.granted', stepId: 'approve', by: bob });
    expect(run.lastRun().input).toMatchObject({
      dataset: 'user-features',
      call: { url: 'https://pipeline.internal/v1/user-features/partitions/{{ partition }}', json: { partition: '{{ partition }}' } },
    });
  });
});

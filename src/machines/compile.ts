/**
 * Compile: `Runbook` → an XState v5 machine that performs no side effects. On entering a step it
 * emits effects (run this call, request an approval, schedule a timer); it moves on events
 * (`step.succeeded`, `approval.granted`, `timer.fired`, `run.cancel`, …). The engine feeds it
 * events through XState's pure `transition()` and performs the effects it returns.
 *
 * Shape: `steps.<id>` compound states (`enter` → `running`/`retrying`, `waiting`,
 * `awaiting_approval` or `awaiting_manual`), a `rolling_back` phase that undoes completed steps
 * from the most recent, and the final states `succeeded`, `failed`, `rejected`, `cancelled`,
 * `rolled_back`. Timers are effects, never XState `after`: restored actors do not re-arm them.
 */
import { setup, type AnyStateMachine } from 'xstate';
import { confirmationState, needsConfirmation } from './auto-start-gate.ts';
import { at, decisionOf, effect, isHuman, isTimer, startOf, update, withStep, type Action, type Args, type Transition } from './compile-actions.ts';
import { escalationLadder, ladderFor, manualExpiry } from './escalation-ladder.ts';
import type { Runbook, Step } from './ir.ts';
import {
  approvalMessage,
  approvalRefusal,
  initialContext,
  prepareStep,
  retryDelayMs,
  stepState,
  summarize,
  timerIds,
  waitDelayMs,
} from './run-logic.ts';
import type { FinalStatus, RunContext, RunEvent, RunInput, StepError, StepState } from './run-types.ts';

export const FINAL_STATUSES: readonly FinalStatus[] = ['succeeded', 'failed', 'rejected', 'cancelled', 'rolled_back'];

/** Compiles a validated runbook into a side-effect-free machine (input: `RunInput`). */
export function compileRunbook(runbook: Runbook): AnyStateMachine {
  const steps = runbook.steps;
  const stepStates = Object.fromEntries(steps.map((step, i) => [step.id, compileStep(runbook, step, i)]));
  const hasSteps = steps.length > 0;
  const config = {
    id: 'run',
    context: ({ input }: { input: RunInput }) => initialContext(runbook, input),
    initial: hasSteps ? 'steps' : 'succeeded',
    on: { 'run.cancel': cancelTransitions(runbook) },
    states: {
      steps: { initial: steps[0]?.id ?? 'none', states: hasSteps ? stepStates : { none: {} } },
      rolling_back: compileRollback(runbook),
      rollback_done: {
        always: [
          { guard: ({ context }: Args) => context.rollback?.reason === 'cancel', target: 'cancelled' },
          { guard: ({ context }: Args) => context.rollback?.reason === 'reject', target: 'rejected' },
          { target: 'rolled_back' },
        ],
      },
      ...Object.fromEntries(FINAL_STATUSES.map((status) => [status, finalState(status)])),
    },
    output: ({ context }: Args) => summarize(context, context.final ?? 'failed'),
  };
  const machine = setup({
    types: {} as { context: RunContext; events: RunEvent; input: RunInput },
    actions: {
      // Effects are returned by transition(), never performed here: see src/engine.
      effect: () => undefined,
    },
  }).createMachine(config as never);
  // The config is built from data, so its literal types are lost; the runtime shape is checked by tests.
  return machine as unknown as AnyStateMachine;
}

function finalState(status: FinalStatus) {
  return {
    type: 'final' as const,
    entry: [
      update(() => ({ final: status })),
      effect(({ context }) => ({ kind: 'run.finished', status, summary: summarize(context, status) })),
    ],
  };
}

function nextTarget(runbook: Runbook, index: number): string {
  const next = runbook.steps[index + 1];
  return next ? `#run.steps.${next.id}` : '#run.succeeded';
}

/** Where a failed step goes, with what its `on_failure` says. */
function failureTransition(runbook: Runbook, step: Step, index: number, error: (args: Args) => StepError, extra: Action[] = []): Transition {
  const record = update(({ context, event }) => ({
    ...withStep(step.id, () => ({ status: 'failed', error: error({ context, event }), finishedAt: at(event) }))({ context, event }),
    ...(step.onFailure.kind === 'continue' || step.onFailure.kind === 'goto' ? {} : { failure: { stepId: step.id, error: error({ context, event }) } }),
  }));
  const actions = [...extra, record];
  switch (step.onFailure.kind) {
    case 'continue':
      return { target: nextTarget(runbook, index), actions };
    case 'goto':
      return { target: `#run.steps.${step.onFailure.stepId}`, actions };
    case 'rollback':
      return {
        target: '#run.rolling_back',
        actions: [
          ...actions,
          update(({ context }) => ({
            rollback: { reason: 'failure', undone: context.rollback?.undone ?? [] },
            // A call that failed may have half-applied (traffic shifted to 10%, a rollout started):
            // its own undo runs first. Undo calls are idempotent, so undoing nothing is harmless.
            ...(step.undo && stepState(context, step.id).attempt > 0 ? { undoStack: [...context.undoStack.filter((id) => id !== step.id), step.id] } : {}),
          })),
        ],
      };
    default:
      return { target: '#run.failed', actions };
  }
}

function compileStep(runbook: Runbook, step: Step, index: number) {
  const next = nextTarget(runbook, index);
  const active = { call: 'running', wait: 'waiting', approval: 'awaiting_approval', manual: 'awaiting_manual' }[step.kind];
  const enter = {
    always: [
      {
        guard: ({ context }: Args) => prepareStep(step, context).kind === 'skip',
        target: next,
        actions: [
          update(withStep(step.id, () => ({ status: 'skipped' }))),
          effect(({ context }) => {
            const prepared = prepareStep(step, context);
            return { kind: 'step.skipped', stepId: step.id, reason: prepared.kind === 'skip' ? prepared.reason : '' };
          }),
        ],
      },
      failureGuarded(runbook, step, index),
      ...(step.kind === 'call' && step.mutating ? [{ guard: ({ context }: Args) => needsConfirmation(step, context), target: 'awaiting_approval' }] : []),
      { target: active },
    ],
  };
  const states: Record<string, unknown> = { enter };
  if (step.kind === 'call') Object.assign(states, callStates(runbook, step, index, 'do'));
  if (step.kind === 'call' && step.mutating) states['awaiting_approval'] = confirmationState(runbook, step);
  if (step.kind === 'wait') states['waiting'] = waitState(step, next);
  if (step.kind === 'approval') states['awaiting_approval'] = approvalState(runbook, step, index);
  if (step.kind === 'manual') states['awaiting_manual'] = manualState(runbook, step, next);
  return { initial: 'enter', states };
}

function failureGuarded(runbook: Runbook, step: Step, index: number): Transition {
  const error = ({ context }: Args): StepError => {
    const prepared = prepareStep(step, context);
    return prepared.kind === 'error' ? prepared.error : { code: 'unknown', message: 'cannot start', retryable: false };
  };
  return { guard: ({ context }) => prepareStep(step, context).kind === 'error', ...failureTransition(runbook, step, index, error) };
}

const isAttempt = (step: Step, phase: 'do' | 'undo') => ({ context, event }: Args): boolean =>
  (event.type === 'step.succeeded' || event.type === 'step.failed') &&
  event.stepId === step.id &&
  (event.phase ?? 'do') === phase &&
  event.attempt === attemptOf(stepState(context, step.id), phase);

const attemptOf = (s: StepState, phase: 'do' | 'undo') => (phase === 'do' ? s.attempt : (s.undoAttempt ?? 0));

/**
 * `running` and `retrying` for a call, in the `do` phase (a step) or `undo` phase (rollback).
 * Failure after the last retry leaves through `onExhausted`.
 */
function attemptStates(step: Step, phase: 'do' | 'undo', onSuccess: Transition, onExhausted: (error: (a: Args) => StepError, extra?: Action[]) => Transition) {
  const attempt = (context: RunContext) => attemptOf(stepState(context, step.id), phase);
  const timeoutId = (context: RunContext) => timerIds.timeout(step.id, phase, attempt(context));
  const retryId = (context: RunContext) => timerIds.retry(step.id, phase, attempt(context));
  const runningStatus = phase === 'do' ? 'running' : 'undoing';
  const failedError = ({ event }: Args): StepError =>
    event.type === 'step.failed' ? event.error : { code: 'step_timeout', message: `no result within ${step.timeoutMs} ms`, retryable: true };
  const canRetry = ({ context, event }: Args) => failedError({ context, event }).retryable && attempt(context) <= step.retries;
  const abort = effect(({ context }) => ({ kind: 'step.abort', stepId: step.id, phase, attempt: attempt(context) }));
  const toRetry = { target: 'retrying', actions: [update(withStep(step.id, (_s, args) => ({ status: 'retrying', error: failedError(args) })))] };
  const failed = (guard: (a: Args) => boolean, extra: Action[]): Transition[] => [
    { guard: (a) => guard(a) && canRetry(a), ...toRetry, actions: [...extra, ...toRetry.actions] },
    { guard, ...onExhausted(failedError, extra) },
  ];
  return {
    running: {
      entry: [
        update(withStep(step.id, (s, { event, context }) => (phase === 'do'
          ? { status: runningStatus, attempt: s.attempt + 1, startedAt: s.startedAt ?? startOf(event, context) }
          : { status: runningStatus, undoAttempt: (s.undoAttempt ?? 0) + 1 }))),
        effect(({ context }) => {
          const prepared = prepareStep(step, context, phase);
          const call = phase === 'do' ? step.call : step.undo;
          const n = attempt(context);
          return {
            kind: 'step.run', stepId: step.id, phase, attempt: n, executor: call?.executor ?? '',
            input: prepared.kind === 'run' ? prepared.input : {}, mutating: call?.mutating ?? false,
            ...(step.timeoutMs !== undefined ? { timeoutMs: step.timeoutMs } : {}),
            idempotencyKey: [context.runId, step.id, phase, n],
          };
        }),
        ...(step.timeoutMs !== undefined
          ? [effect(({ context }) => ({ kind: 'timer.schedule', timerId: timeoutId(context), delayMs: step.timeoutMs ?? 0, purpose: 'step-timeout', stepId: step.id }))]
          : []),
      ],
      exit: [
        ...(step.timeoutMs !== undefined ? [effect(({ context }) => ({ kind: 'timer.cancel', timerId: timeoutId(context) }))] : []),
        effect(({ context, event }) => (event.type === 'run.cancel' ? { kind: 'step.abort', stepId: step.id, phase, attempt: attempt(context) } : null)),
      ],
      on: {
        'step.succeeded': { guard: isAttempt(step, phase), ...onSuccess },
        'step.failed': failed(isAttempt(step, phase), []),
        'timer.fired': failed(isTimer(timeoutId), [abort]),
      },
    },
    retrying: {
      entry: [
        effect(({ context }) => ({ kind: 'timer.schedule', timerId: retryId(context), delayMs: retryDelayMs(step.backoff, attempt(context)), purpose: 'retry', stepId: step.id })),
      ],
      exit: [effect(({ context, event }) => (event.type === 'timer.fired' ? null : { kind: 'timer.cancel', timerId: retryId(context) }))],
      on: { 'timer.fired': { guard: isTimer(retryId), target: 'running' } },
    },
  };
}

function callStates(runbook: Runbook, step: Step, index: number, phase: 'do') {
  const success: Transition = {
    target: nextTarget(runbook, index),
    actions: [
      update(({ context, event }) => ({
        ...withStep(step.id, () => ({ status: 'succeeded', output: event.type === 'step.succeeded' ? (event.output ?? null) : null, error: undefined, finishedAt: at(event) }))({ context, event }),
        ...(step.undo ? { undoStack: [...context.undoStack.filter((id) => id !== step.id), step.id] } : {}),
      })),
    ],
  };
  return attemptStates(step, phase, success, (error, extra) => failureTransition(runbook, step, index, error, extra));
}

function waitState(step: Step, next: string) {
  const id = timerIds.wait(step.id);
  return {
    entry: [
      update(withStep(step.id, (_s, { event, context }) => ({ status: 'waiting', startedAt: startOf(event, context) }))),
      effect(({ context }) => ({ kind: 'timer.schedule', timerId: id, delayMs: waitDelayMs(step, context), purpose: 'wait', stepId: step.id })),
    ],
    exit: [effect(({ event }) => (event.type === 'timer.fired' ? null : { kind: 'timer.cancel', timerId: id }))],
    on: {
      'timer.fired': {
        guard: isTimer(() => id),
        target: next,
        actions: [update(withStep(step.id, (_s, { event }) => ({ status: 'succeeded', output: { waited_ms: step.waitMs ?? null }, finishedAt: at(event) })))],
      },
    },
  };
}

function approvalState(runbook: Runbook, step: Step, index: number) {
  const gate = step.approval ?? { quorum: 1, from: [], allowSelf: false, onExpiry: 'reject' as const, escalation: [] };
  const expiry = timerIds.expiry(step.id);
  const ladder = escalationLadder(step.id, 'approval', (context) => ladderFor(gate.escalation, 'approval', context));
  const decisions = (context: RunContext) => stepState(context, step.id).approvals ?? [];
  const eligible = ({ context, event }: Args) =>
    event.type === 'approval.granted' && event.stepId === step.id && approvalRefusal(gate, event.by, context.requester, decisions(context)) === undefined;
  const reaches = (args: Args) => eligible(args) && decisions(args.context).length + 1 >= gate.quorum;
  const record = update(withStep(step.id, (s, { event }) => {
    const approvals = [...(s.approvals ?? []), decisionOf(event)];
    return { approvals, output: { approvers: approvals.map((d) => d.by.id) } };
  }));
  // A person approving anything in an auto-started run lifts its gate on mutating steps.
  const markHuman = update(({ context, event }) => {
    const decision = decisionOf(event);
    return isHuman(decision) && !context.humanApproved ? { humanApproved: decision } : {};
  });
  const recorded = effect(({ context, event }) => (event.type === 'approval.granted'
    ? { kind: 'approval.recorded', stepId: step.id, by: event.by, count: decisions(context).length, quorum: gate.quorum }
    : null));
  const mayReject = ({ context, event }: Args) =>
    event.type === 'approval.rejected' && event.stepId === step.id &&
    (event.by.id === context.requester.id || approvalRefusal({ ...gate, allowSelf: true }, event.by, context.requester, []) === undefined);
  const rejectActions = (outcome: 'rejected' | 'expired'): Action[] => [
    update(({ context, event }) => {
      const decision = decisionOf(event);
      const error = { code: outcome === 'expired' ? 'approval_expired' : 'approval_rejected', message: decision.reason ?? `approval ${outcome}`, retryable: false };
      return { ...withStep(step.id, () => ({ status: 'failed', error, decidedBy: decision }))({ context, event }), rejected: { ...decision, stepId: step.id } };
    }),
    effect(() => ({ kind: 'approval.closed', stepId: step.id, outcome })),
  ];
  const rejectTarget = (outcome: 'rejected' | 'expired'): Transition[] => (step.onFailure.kind === 'rollback'
    ? [
        { guard: ({ context }) => context.undoStack.length > 0, target: '#run.rolling_back', actions: [...rejectActions(outcome), update(() => ({ rollback: { reason: 'reject', undone: [] } }))] },
        { target: '#run.rejected', actions: rejectActions(outcome) },
      ]
    : [{ target: '#run.rejected', actions: rejectActions(outcome) }]);
  return {
    entry: [
      update(withStep(step.id, (_s, { event, context }) => ({ status: 'awaiting_approval', approvals: [], startedAt: startOf(event, context) }))),
      effect(({ context }) => ({ kind: 'approval.request', stepId: step.id, message: approvalMessage(step, context), gate })),
      ...(gate.expiresMs !== undefined ? [effect(() => ({ kind: 'timer.schedule', timerId: expiry, delayMs: gate.expiresMs ?? 0, purpose: 'approval-expiry', stepId: step.id }))] : []),
      ...ladder.entry,
    ],
    exit: [
      ...ladder.exit,
      ...(gate.expiresMs !== undefined ? [effect(({ event }) => (event.type === 'timer.fired' && event.timerId === expiry ? null : { kind: 'timer.cancel', timerId: expiry }))] : []),
      effect(({ event }) => (event.type === 'run.cancel' ? { kind: 'approval.closed', stepId: step.id, outcome: 'cancelled' } : null)),
    ],
    on: {
      'approval.granted': [
        {
          guard: reaches,
          target: nextTarget(runbook, index),
          actions: [record, recorded, update(withStep(step.id, (_s, { event }) => ({ status: 'succeeded', finishedAt: at(event) }))), markHuman, effect(() => ({ kind: 'approval.closed', stepId: step.id, outcome: 'approved' }))],
        },
        { guard: eligible, actions: [record, recorded] },
      ],
      'approval.rejected': rejectTarget('rejected').map((t) => ({ ...t, guard: t.guard ? (a: Args) => mayReject(a) && (t.guard?.(a) ?? true) : mayReject })),
      'timer.fired': [
        ...ladder.onTimer,
        ...(gate.onExpiry === 'reject' && gate.expiresMs !== undefined
          ? rejectTarget('expired').map((t) => ({ ...t, guard: t.guard ? (a: Args) => isTimer(() => expiry)(a) && (t.guard?.(a) ?? true) : isTimer(() => expiry) }))
          : []),
      ],
    },
  };
}

function manualState(runbook: Runbook, step: Step, next: string) {
  const rungs = (context: RunContext) => ladderFor(runbook.manual?.escalation, 'manual', context);
  const ladder = escalationLadder(step.id, 'manual', rungs);
  const overdue = manualExpiry(step.id, runbook.manual?.expiresMs, rungs);
  const close = (outcome: 'done' | 'skipped') => effect(() => ({ kind: 'manual.closed', stepId: step.id, outcome }));
  const matches = ({ event }: Args) => (event.type === 'manual.done' || event.type === 'manual.skipped') && event.stepId === step.id;
  return {
    entry: [
      update(withStep(step.id, (_s, { event, context }) => ({ status: 'awaiting_manual', startedAt: startOf(event, context) }))),
      effect(() => ({ kind: 'manual.request', stepId: step.id, instructions: step.instructions })),
      ...ladder.entry,
      ...overdue.entry,
    ],
    exit: [
      ...ladder.exit,
      ...overdue.exit,
      effect(({ event }) => (event.type === 'run.cancel' ? { kind: 'manual.closed', stepId: step.id, outcome: 'cancelled' } : null)),
    ],
    on: {
      'manual.done': { guard: matches, target: next, actions: [update(withStep(step.id, (_s, { event }) => ({ status: 'succeeded', decidedBy: decisionOf(event), finishedAt: at(event) }))), close('done')] },
      'manual.skipped': { guard: matches, target: next, actions: [update(withStep(step.id, (_s, { event }) => ({ status: 'skipped', decidedBy: decisionOf(event), finishedAt: at(event) }))), close('skipped')] },
      'timer.fired': [...ladder.onTimer, ...overdue.onTimer],
    },
  };
}

function compileRollback(runbook: Runbook) {
  const undoable = runbook.steps.filter((s) => s.undo);
  const top = (context: RunContext) => context.undoStack.at(-1);
  const perStep = Object.fromEntries(
    undoable.map((step) => {
      const success: Transition = {
        target: '#run.rolling_back.next',
        actions: [update(({ context, event }) => ({
          ...withStep(step.id, () => ({ status: 'undone', finishedAt: at(event) }))({ context, event }),
          undoStack: context.undoStack.slice(0, -1),
          rollback: { reason: context.rollback?.reason ?? 'failure', undone: [...(context.rollback?.undone ?? []), step.id] },
        }))],
      };
      const exhausted = (error: (a: Args) => StepError, extra: Action[] = []): Transition => ({
        target: '#run.failed',
        actions: [...extra, update(({ context, event }) => {
          const cause = error({ context, event });
          const failure = { stepId: step.id, error: { code: 'undo_failed', message: `undo of \`${step.id}\` failed: ${cause.message}`, retryable: false } };
          return { ...withStep(step.id, () => ({ status: 'undo_failed', error: cause }))({ context, event }), failure };
        })],
      });
      return [`undo_${step.id}`, { initial: 'running', states: attemptStates(step, 'undo', success, exhausted) }];
    }),
  );
  return {
    initial: 'next',
    // A cancel during a rollback would leave production half-restored: it is not honoured.
    on: { 'run.cancel': { actions: [] } },
    states: {
      next: {
        always: [
          ...undoable.map((step) => ({ guard: ({ context }: Args) => top(context) === step.id, target: `undo_${step.id}` })),
          { target: '#run.rollback_done' },
        ],
      },
      ...perStep,
    },
  };
}

function cancelTransitions(runbook: Runbook): Transition[] {
  const cancel = update(({ event }) => ({ cancelled: decisionOf(event) }));
  return [
    ...(runbook.onCancel === 'rollback'
      ? [{ guard: ({ context }: Args) => context.undoStack.length > 0, target: '#run.rolling_back', actions: [cancel, update(() => ({ rollback: { reason: 'cancel' as const, undone: [] } }))] }]
      : []),
    { target: '#run.cancelled', actions: [cancel] },
  ];
}

/**
 * The gate of auto-started runs (issue 6): a run PagerDuty started runs its read-only steps as
 * usual, but before its first mutating call it waits in `awaiting_approval` for one person (anyone
 * but the requester `pagerduty`) to confirm, unless a person already approved something in the
 * run. The confirmation is an ordinary approval on the mutating step: requested, recorded and
 * closed with the same effects and audit records as an `approve` step, and escalated on the same
 * ladder (the front matter's approval ladder, else the run's default).
 */
import { decisionOf, effect, isHuman, update, withStep, type Action, type Args, type Transition } from './compile-actions.ts';
import { escalationLadder } from './escalation-ladder.ts';
import type { ApprovalGate, Runbook, Step } from './ir.ts';
import { approvalRefusal, stepState } from './run-logic.ts';
import type { RunContext } from './run-types.ts';

/** Whether entering `step` must first wait for a person's confirmation. */
export function needsConfirmation(step: Step, context: RunContext): boolean {
  return step.kind === 'call' && (step.call?.mutating ?? step.mutating) && context.autoStarted === true && context.humanApproved === undefined
    && !(context.unattendedSteps ?? []).includes(step.id);
}

/** The implicit gate: quorum 1, anyone but the requester, never expires (it escalates instead). */
export function confirmationGate(runbook: Runbook, step: Step, context: RunContext): ApprovalGate {
  const own = runbook.approval?.escalation ?? [];
  return {
    message: confirmationMessage(step, context),
    quorum: 1,
    from: [],
    allowSelf: false,
    onExpiry: 'wait',
    escalation: own.length > 0 ? own : (context.slaDefaults?.approval ?? []),
  };
}

export function confirmationMessage(step: Step, context: RunContext): string {
  const incident = context.autoStartedBy ?? (typeof context.incident?.['id'] === 'string' ? context.incident['id'] : undefined);
  return `Started automatically by PagerDuty incident ${incident ?? '(unknown)'}: approve before “${step.title}” changes anything`;
}

/**
 * The `awaiting_approval` state of a mutating call step in an auto-started run. Granted → the
 * step's `running` state; rejected (by the requester or an eligible person) → the run is rejected.
 */
export function confirmationState(runbook: Runbook, step: Step): Record<string, unknown> {
  const gate = (context: RunContext) => confirmationGate(runbook, step, context);
  const ladder = escalationLadder(step.id, 'approval', (context) => gate(context).escalation);
  const decisions = (context: RunContext) => stepState(context, step.id).approvals ?? [];
  const eligible = ({ context, event }: Args) =>
    event.type === 'approval.granted' && event.stepId === step.id && approvalRefusal(gate(context), event.by, context.requester, decisions(context)) === undefined;
  const mayReject = ({ context, event }: Args) =>
    event.type === 'approval.rejected' && event.stepId === step.id &&
    (event.by.id === context.requester.id || approvalRefusal({ ...gate(context), allowSelf: true }, event.by, context.requester, []) === undefined);
  const granted: Action[] = [
    update(({ context, event }) => {
      const decision = decisionOf(event);
      return {
        ...withStep(step.id, (s) => ({ approvals: [...(s.approvals ?? []), decision] }))({ context, event }),
        ...(isHuman(decision) ? { humanApproved: decision } : {}),
      };
    }),
    effect(({ context, event }) => (event.type === 'approval.granted' ? { kind: 'approval.recorded', stepId: step.id, by: event.by, count: decisions(context).length, quorum: 1 } : null)),
    effect(() => ({ kind: 'approval.closed', stepId: step.id, outcome: 'approved' })),
  ];
  const rejected: Transition = {
    guard: mayReject,
    target: '#run.rejected',
    actions: [
      update(({ context, event }) => {
        const decision = decisionOf(event);
        const error = { code: 'approval_rejected', message: decision.reason ?? 'approval rejected', retryable: false };
        return { ...withStep(step.id, () => ({ status: 'failed', error, decidedBy: decision }))({ context, event }), rejected: { ...decision, stepId: step.id } };
      }),
      effect(() => ({ kind: 'approval.closed', stepId: step.id, outcome: 'rejected' })),
    ],
  };
  return {
    entry: [
      update(withStep(step.id, () => ({ status: 'awaiting_approval', approvals: [] }))),
      effect(({ context }) => ({ kind: 'approval.request', stepId: step.id, message: confirmationMessage(step, context), gate: gate(context) })),
      ...ladder.entry,
    ],
    exit: [
      ...ladder.exit,
      effect(({ event }) => (event.type === 'run.cancel' ? { kind: 'approval.closed', stepId: step.id, outcome: 'cancelled' } : null)),
    ],
    on: {
      'approval.granted': { guard: eligible, target: 'running', actions: granted },
      'approval.rejected': rejected,
      'timer.fired': ladder.onTimer,
    },
  };
}

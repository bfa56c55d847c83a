/**
 * Reads what one committed run transition means for the KPIs (a run finished, an approval gate
 * closed after some wait, an SLA rung fired) and reports it to the observer. Pure reading: the
 * engine calls it after the commit, with the run as it was before the event.
 */
import type { RunRecord, RunStatus } from '../engine/run-store.ts';
import type { Runbook } from '../machines/ir.ts';
import type { Effect, RunEvent } from '../machines/run-types.ts';
import { safely, type EngineObserver } from './observer.ts';

export interface CommittedTransition {
  /** The run before the event. */
  readonly run: RunRecord;
  readonly runbook: Runbook;
  readonly event: RunEvent;
  readonly effects: readonly Effect[];
  /** The run's status after the event. */
  readonly status: RunStatus;
  readonly now: number;
}

/** Reports the transition's run finish, closed approvals and fired SLA rungs. */
export function observeTransition(observer: EngineObserver | undefined, transition: CommittedTransition): void {
  if (!observer) return;
  safely(() => {
    const { run, runbook, now } = transition;
    const identity = { runId: run.id, runbook: run.runbookId, ...(runbook.costCenter ? { costCenter: runbook.costCenter } : {}) };
    for (const effect of transition.effects) {
      if (effect.kind !== 'approval.closed' || !observer.approvalClosed) continue;
      const startedAt = run.snapshot.context.steps[effect.stepId]?.startedAt ?? run.createdAt;
      for (const group of approverGroups(runbook, effect.stepId)) {
        observer.approvalClosed({ runbook: run.runbookId, group, outcome: effect.outcome, waitMs: Math.max(0, now - startedAt) });
      }
    }
    if (transition.event.type === 'timer.fired') {
      const kind = escalationKind(runbook, transition.event.timerId);
      if (kind) observer.slaEscalated?.({ kind });
    }
    if (transition.status !== 'active') observer.runFinished?.({ ...identity, status: transition.status, durationMs: Math.max(0, now - run.createdAt) });
  });
}

/** The `@group` handles a step's approvals come from; `users` when only user ids, `anyone` when open. */
export function approverGroups(runbook: Runbook, stepId: string): string[] {
  const from = runbook.steps.find((s) => s.id === stepId)?.approval?.from ?? runbook.approval?.from ?? [];
  const groups = from.filter((f) => f.startsWith('@'));
  if (groups.length > 0) return groups;
  return from.length > 0 ? ['users'] : ['anyone'];
}

/** `notify`/`page` for an escalation rung's timer, `approval_expiry`/`manual_expiry` for expiries. */
export function escalationKind(runbook: Runbook, timerId: string): string | undefined {
  if (timerId.endsWith('.approval.expiry')) return 'approval_expiry';
  if (timerId.endsWith('.manual.expiry')) return 'manual_expiry';
  const rung = /^(.*)\.escalate\.(\d+)$/.exec(timerId);
  if (!rung) return undefined;
  const step = runbook.steps.find((s) => s.id === rung[1]);
  const ladder = step?.kind === 'manual' ? (runbook.manual?.escalation ?? []) : (step?.approval?.escalation ?? runbook.approval?.escalation ?? []);
  const entry = ladder[Number(rung[2])];
  return entry?.page ? 'page' : 'notify';
}

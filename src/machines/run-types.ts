/**
 * The run machine's vocabulary: its context, the events it moves on, and the effects it emits.
 * All plain JSON, so snapshots persist and effects can cross a queue.
 */
import type { ApprovalGate, EscalationRung } from './ir.ts';

export type StepStatus =
  | 'pending'
  | 'running'
  | 'retrying'
  | 'waiting'
  | 'awaiting_approval'
  | 'awaiting_manual'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'undoing'
  | 'undone'
  | 'undo_failed';

export interface StepError {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

export interface Person {
  /** Slack user id, `pagerduty`, `cli:<user>` or `system`. */
  readonly id: string;
  readonly name?: string;
  /** Slack user groups (`@handle`) the person belongs to, as resolved by the engine. */
  readonly groups?: readonly string[];
}

export interface Decision {
  readonly by: Person;
  readonly at?: number;
  readonly reason?: string;
}

/** A rung of an SLA ladder that fired while the step waited (or the manual step's `expires` passing). */
export interface EscalationRecord {
  readonly rung: number;
  readonly at?: number;
  readonly notify?: readonly string[];
  readonly page?: EscalationRung['page'];
  /** The wait's `expires` passed (manual steps keep waiting). */
  readonly expired?: boolean;
}

export interface StepState {
  readonly status: StepStatus;
  readonly attempt: number;
  readonly undoAttempt?: number;
  readonly output?: unknown;
  readonly error?: StepError;
  readonly approvals?: readonly Decision[];
  readonly decidedBy?: Decision;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  /** SLA rungs fired while this step waited for a person, oldest first. */
  readonly escalations?: readonly EscalationRecord[];
}

/** Default SLA ladders, used by gates and manual steps whose runbook sets none (policy fills them). */
export interface SlaDefaults {
  readonly approval?: readonly EscalationRung[];
  readonly manual?: readonly EscalationRung[];
}

export type FinalStatus = 'succeeded' | 'failed' | 'rejected' | 'cancelled' | 'rolled_back';

export interface RunInput {
  readonly runId: string;
  readonly runbookId: string;
  readonly requester: Person;
  /** Params already validated and coerced (see `params.ts`). */
  readonly params: Readonly<Record<string, unknown>>;
  readonly incident?: Readonly<Record<string, unknown>> | null;
  readonly startedAt?: number;
  /**
   * Started by an alert, not a person (PagerDuty auto-start): read-only steps run, and the first
   * mutating step waits for a person's approval unless one already approved something in the run.
   */
  readonly autoStarted?: boolean;
  /** What started it, for the confirmation message (a PagerDuty incident id). */
  readonly autoStartedBy?: string;
  /** Mutating steps the policy lets an auto-started run perform without a person's confirmation. */
  readonly unattendedSteps?: readonly string[];
  readonly slaDefaults?: SlaDefaults;
}

export interface RunContext {
  readonly runId: string;
  readonly runbookId: string;
  readonly requester: Person;
  readonly params: Readonly<Record<string, unknown>>;
  readonly incident: Readonly<Record<string, unknown>> | null;
  readonly startedAt?: number;
  /** See `RunInput.autoStarted`; absent in runs stored before it existed. */
  readonly autoStarted?: boolean;
  readonly autoStartedBy?: string;
  /** See `RunInput.unattendedSteps`. */
  readonly unattendedSteps?: readonly string[];
  /** Set once a person approved anything in the run: lifts the auto-start gate. */
  readonly humanApproved?: Decision;
  readonly slaDefaults?: SlaDefaults;
  readonly steps: Readonly<Record<string, StepState>>;
  /** Completed steps that have an `undo`, most recent last: a rollback undoes them from the end. */
  readonly undoStack: readonly string[];
  readonly rollback: { readonly reason: 'failure' | 'cancel' | 'reject'; readonly undone: readonly string[] } | null;
  readonly failure: { readonly stepId: string; readonly error: StepError } | null;
  readonly cancelled: Decision | null;
  readonly rejected: (Decision & { readonly stepId: string }) | null;
  /** Set on entering a final state. */
  readonly final: FinalStatus | null;
}

type At = { readonly at?: number };

export type RunEvent =
  /** `cost`: what the call consumed as its output states it (SSM instance-seconds, backfill partitions), for the audit trail. */
  | ({ type: 'step.succeeded'; stepId: string; attempt: number; phase?: 'do' | 'undo'; output?: unknown; cost?: readonly { readonly unit: string; readonly amount: number }[] } & At)
  | ({ type: 'step.failed'; stepId: string; attempt: number; phase?: 'do' | 'undo'; error: StepError } & At)
  | ({ type: 'approval.granted'; stepId: string; by: Person } & At)
  | ({ type: 'approval.rejected'; stepId: string; by: Person; reason?: string } & At)
  | ({ type: 'manual.done'; stepId: string; by: Person } & At)
  | ({ type: 'manual.skipped'; stepId: string; by: Person; reason?: string } & At)
  | ({ type: 'timer.fired'; timerId: string } & At)
  | ({ type: 'run.cancel'; by: Person; reason?: string } & At);

export type RunEventType = RunEvent['type'];

export const RUN_EVENT_TYPES: readonly RunEventType[] = [
  'step.succeeded',
  'step.failed',
  'approval.granted',
  'approval.rejected',
  'manual.done',
  'manual.skipped',
  'timer.fired',
  'run.cancel',
];

export type TimerPurpose = 'step-timeout' | 'retry' | 'wait' | 'approval-expiry' | 'escalation' | 'manual-expiry';

/** What the machine asks the world to do. The engine turns each into a job or a message. */
export type Effect =
  | {
      readonly kind: 'step.run';
      readonly stepId: string;
      readonly phase: 'do' | 'undo';
      readonly attempt: number;
      readonly executor: string;
      readonly input: unknown;
      readonly mutating: boolean;
      readonly timeoutMs?: number;
      /** Run id, step id, phase and attempt: unique per attempt, stable across redelivery. */
      readonly idempotencyKey: readonly [string, string, 'do' | 'undo', number];
    }
  | { readonly kind: 'step.abort'; readonly stepId: string; readonly phase: 'do' | 'undo'; readonly attempt: number }
  | { readonly kind: 'step.skipped'; readonly stepId: string; readonly reason: string }
  | { readonly kind: 'approval.request'; readonly stepId: string; readonly message: string; readonly gate: ApprovalGate }
  | { readonly kind: 'approval.recorded'; readonly stepId: string; readonly by: Person; readonly count: number; readonly quorum: number }
  | { readonly kind: 'approval.closed'; readonly stepId: string; readonly outcome: 'approved' | 'rejected' | 'expired' | 'cancelled' }
  | { readonly kind: 'manual.request'; readonly stepId: string; readonly instructions: string }
  | { readonly kind: 'manual.closed'; readonly stepId: string; readonly outcome: 'done' | 'skipped' | 'cancelled' }
  | { readonly kind: 'timer.schedule'; readonly timerId: string; readonly delayMs: number; readonly purpose: TimerPurpose; readonly stepId: string }
  | { readonly kind: 'timer.cancel'; readonly timerId: string }
  /**
   * An SLA rung fired while a step waited for a person: remind (`notify`: `@group` handles, user
   * ids) and/or page (`page`). `expired`: a manual step's `expires` passed; it keeps waiting.
   */
  | {
      readonly kind: 'escalation.fire';
      readonly stepId: string;
      readonly rung: number;
      readonly afterMs: number;
      readonly waitingFor: 'approval' | 'manual';
      readonly notify?: readonly string[];
      readonly page?: EscalationRung['page'];
      readonly expired?: boolean;
    }
  | { readonly kind: 'run.finished'; readonly status: FinalStatus; readonly summary: RunSummary }
  /** Added by the engine (not the machine) for runs whose message lives in Slack: re-render it. */
  | { readonly kind: 'run.updated' };

export interface RunSummary {
  readonly status: FinalStatus;
  readonly steps: Readonly<Record<string, { readonly status: StepStatus; readonly output?: unknown; readonly error?: StepError }>>;
  readonly failure?: { readonly stepId: string; readonly error: StepError };
  readonly undone?: readonly string[];
  readonly cancelledBy?: string;
  readonly rejectedBy?: string;
}

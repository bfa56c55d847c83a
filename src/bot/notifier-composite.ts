/**
 * One notify worker, several notifiers: the run message (Slack), SLA escalations, findings. Each
 * part says which jobs it takes; every part that takes a job gets it, in order, even when an
 * earlier part failed. Parts must be idempotent (the job is retried as a whole when any part
 * fails), which each is: the run message re-renders from state, escalations and findings keep
 * per-job markers.
 */
import { UnrecoverableError } from 'bullmq';
import type { NotifyJob } from '../engine/queues.ts';
import type { Notifier } from '../engine/workers.ts';

export interface NotifierPart {
  /** For logs and errors: `slack`, `escalations`, `findings`. */
  readonly name: string;
  /** Which jobs this part handles. @default every job */
  readonly accepts?: (job: NotifyJob) => boolean;
  readonly notifier: Notifier;
}

/** Jobs whose effect is one of `kinds`. */
export const forEffects = (...kinds: readonly NotifyJob['effect']['kind'][]) => (job: NotifyJob): boolean => kinds.includes(job.effect.kind);

/**
 * Runs every accepting part. When some fail, rethrows a retryable failure if there is one (so
 * BullMQ retries the job, and the parts that succeeded find their work done), else the first
 * unrecoverable one.
 */
export function composeNotifiers(parts: readonly NotifierPart[]): Notifier {
  return async (job) => {
    const failures: unknown[] = [];
    for (const part of parts) {
      if (part.accepts && !part.accepts(job)) continue;
      try {
        await part.notifier(job);
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length === 0) return;
    throw failures.find((e) => !(e instanceof UnrecoverableError)) ?? failures[0];
  };
}

/**
 * The engine's three BullMQ queues (DESIGN.md §2): `steps` (executor calls), `timers` (delayed
 * jobs: step timeouts, waits, retry backoff, approval expiry, SLAs) and `notify` (outbound
 * messages). Job data is plain JSON, as BullMQ requires.
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Effect } from '../machines/run-types.ts';
import type { EngineKeys } from './keys.ts';

export const QUEUE_NAMES = { steps: 'steps', timers: 'timers', notify: 'notify' } as const;

export interface StepJob {
  readonly runId: string;
  readonly stepId: string;
  readonly phase: 'do' | 'undo';
  readonly attempt: number;
  readonly executor: string;
  readonly input: unknown;
  readonly timeoutMs?: number;
  readonly idempotencyKey: string;
}

export interface TimerJob {
  readonly runId: string;
  readonly timerId: string;
}

export interface NotifyJob {
  readonly runId: string;
  readonly version: number;
  readonly effect: Effect;
}

export interface EngineQueues {
  readonly steps: Queue<StepJob>;
  readonly timers: Queue<TimerJob>;
  readonly notify: Queue<NotifyJob>;
  close(): Promise<void>;
}

/**
 * Redelivery is BullMQ's job (a stalled step is picked up again); retries with backoff are the
 * runbook's. So a step job has a few delivery attempts for infrastructure hiccups (Redis blips
 * while reporting the result), never for executor failures, which become `step.failed` events.
 */
export const STEP_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { count: 1_000 },
  removeOnFail: { count: 5_000 },
};

export const TIMER_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: true,
  removeOnFail: { count: 1_000 },
};

export const NOTIFY_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: { count: 1_000 },
};

export function createQueues(connection: Redis, keys: EngineKeys): EngineQueues {
  const options = { connection, prefix: keys.queuePrefix };
  const steps = new Queue<StepJob>(QUEUE_NAMES.steps, options);
  const timers = new Queue<TimerJob>(QUEUE_NAMES.timers, options);
  const notify = new Queue<NotifyJob>(QUEUE_NAMES.notify, options);
  for (const queue of [steps, timers, notify]) queue.on('error', () => undefined); // surfaced by the connection's own logger
  let closed: Promise<void> | undefined;
  return {
    steps,
    timers,
    notify,
    close: () => (closed ??= Promise.all([steps.close(), timers.close(), notify.close()]).then(() => undefined)),
  };
}

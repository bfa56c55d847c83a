/**
 * The `pagerduty-events` BullMQ queue: the webhook route puts each new delivery on it and answers
 * PagerDuty at once; the events worker does the work. One job per PagerDuty event id (a
 * deterministic job id), so even a delivery that slipped past the Redis dedupe enqueues nothing new
 * while the first job is kept.
 */
import { createHash } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobId } from '../engine/keys.ts';

export const PAGERDUTY_EVENTS_QUEUE = 'pagerduty-events';

/** A delivery as received: the parsed body (plain JSON) and what the headers said. */
export interface PagerDutyEventJob {
  /** The `event` object of the body, as PagerDuty sent it (unknown fields included). */
  readonly event: Readonly<Record<string, unknown>> & { readonly id: string; readonly event_type: string };
  /** `X-Webhook-Id`, when sent (stable across redeliveries). */
  readonly webhookId?: string;
  readonly receivedAt: number;
  /** The delivery's trace (W3C `traceparent`), when tracing is on: the work it causes joins it. */
  readonly traceparent?: string;
}

/**
 * A few attempts with backoff: the worker's steps are idempotent (declare by PagerDuty id,
 * deterministic run ids, SET NX markers), so retrying a half-done job is safe.
 */
export const PAGERDUTY_EVENT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 48 * 3600, count: 10_000 },
  removeOnFail: { count: 5_000 },
};

/** Job id of an event: hashed (event ids come from outside), never with `:`, never all digits. */
export function pagerDutyEventJobId(eventId: string): string {
  return jobId('pd', createHash('sha256').update(eventId).digest('hex').slice(0, 40));
}

/** The queue, on the engine's BullMQ prefix (`keys.queuePrefix`). */
export function createPagerDutyEventsQueue(connection: Redis, queuePrefix: string): Queue<PagerDutyEventJob> {
  const queue = new Queue<PagerDutyEventJob>(PAGERDUTY_EVENTS_QUEUE, { connection, prefix: queuePrefix });
  queue.on('error', () => undefined); // surfaced by the connection's own logger
  return queue;
}

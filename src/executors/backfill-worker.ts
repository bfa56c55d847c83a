/**
 * The partition worker of `backfill`: a BullMQ Worker on `backfill-partitions` that runs one
 * partition's call (`http`, `ssm` or `run`, with `{{ partition }}` rendered) and records the
 * outcome in the backfill's key space (`backfill-partitions.ts`), then tells the run loops.
 *
 * - A partition's own tries are BullMQ attempts (set by the run loop): a flaky partition is tried
 *   again with backoff; a non-retryable failure (`http` 404, bad arguments) is not.
 * - Delivery is at least once (a killed worker's job runs again): the call's idempotency key,
 *   `<step attempt key>/<partition>`, is the same on every redelivery and every try of the
 *   partition within the step attempt, and a partition already done is never run again.
 * - The failure is recorded before the job fails (after its last try), so a record is never lost
 *   to a crash between the two; the run loop also notices a job that failed without one.
 * - A cancelled backfill attempt (the run loop was aborted) skips its queued jobs and aborts its
 *   calls in flight, through the `cancel` channel; a cancelled call is not retried.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { renderValue } from '../machines/template.ts';
import { ExecutorError, toStepError, type ExecutorContext, type ExecutorLogger, type ExecutorRegistry } from './contract.ts';
import {
  BACKFILL_QUEUE,
  DEFAULT_BACKFILL_STATE_TTL_MS,
  backfillChannels,
  backfillId,
  backfillKeys,
  type CancelMessage,
  type FailedPartitionRecord,
  type PartitionJob,
} from './backfill-partitions.ts';

export interface BackfillPartitionWorkerOptions {
  /** A worker-role connection (`maxRetriesPerRequest: null`); duplicated for the cancel subscription. */
  readonly connection: Redis;
  /** BullMQ prefix, the same as the backfill executor's (the engine's `keys.queuePrefix`). */
  readonly prefix: string;
  /** The executors partition calls run with; only `http`, `ssm` and `run` are asked for. */
  readonly executors: () => ExecutorRegistry;
  readonly logger: ExecutorLogger;
  /** Partition calls at once in this process, all backfills together. @default 16 */
  readonly concurrency?: number;
  /** As the step worker's: a dead worker's partition is free again after this. @default 5000 */
  readonly lockDurationMs?: number;
  /** How often stalled jobs are looked for; the same in every worker (REFERENCE.md §5.6). @default 1000 */
  readonly stalledIntervalMs?: number;
  /** Redeliveries of a stalled partition before it fails. @default 5 */
  readonly maxStalledCount?: number;
  /** How long done/failed records live after their last change. @default 7 days */
  readonly stateTtlMs?: number;
}

/** Same shape as the engine's `EngineWorker`, so the runtime can close it with the others. */
export interface BackfillPartitionWorker {
  readonly worker: Worker<PartitionJob>;
  /** Idempotent; `close(true)` does not wait for calls in flight. */
  close(force?: boolean): Promise<void>;
}

type Outcome = { readonly partition: string; readonly ok: true } | { readonly partition: string; readonly skipped: 'cancelled' | 'already_done' };

/** Starts the partition worker; resolves once it listens for cancellations. */
export async function createBackfillPartitionWorker(options: BackfillPartitionWorkerOptions): Promise<BackfillPartitionWorker> {
  const channels = backfillChannels(options.prefix);
  const inFlight = new Map<string, Set<AbortController>>();
  const subscriber = options.connection.duplicate();
  subscriber.on('error', (error: Error) => options.logger.warn({ err: error.message }, 'backfill cancel subscriber error'));
  await subscriber.subscribe(channels.cancel);
  subscriber.on('message', (channel: string, text: string) => {
    if (channel !== channels.cancel) return;
    const message = parseCancel(text);
    if (!message) return options.logger.warn({ channel }, 'ignored a malformed backfill cancel message');
    for (const controller of inFlight.get(cancelKey(message.id, message.attempt)) ?? []) controller.abort();
  });

  const processor = async (job: Job<PartitionJob>, _token?: string, jobSignal?: AbortSignal): Promise<Outcome> => {
    const key = cancelKey(backfillId(job.data), job.data.attempt);
    const controller = new AbortController();
    jobSignal?.addEventListener('abort', () => controller.abort(), { once: true });
    // Registered before the cancelled check: a cancel published after the check still reaches it.
    const controllers = inFlight.get(key) ?? new Set<AbortController>();
    inFlight.set(key, controllers.add(controller));
    try {
      return await processPartition(job, controller.signal, options);
    } finally {
      controllers.delete(controller);
      if (controllers.size === 0) inFlight.delete(key);
    }
  };

  const worker = new Worker<PartitionJob>(BACKFILL_QUEUE, processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? 16,
    lockDuration: options.lockDurationMs ?? 5_000,
    stalledInterval: options.stalledIntervalMs ?? 1_000,
    maxStalledCount: options.maxStalledCount ?? 5,
  });
  worker.on('error', (error) => options.logger.warn({ err: error.message }, 'backfill partition worker error'));
  let closing: Promise<void> | undefined;
  return {
    worker,
    close: (force = false) =>
      (closing ??= worker.close(force).then(async () => {
        await subscriber.quit().catch(() => subscriber.disconnect());
      })),
  };
}

async function processPartition(job: Job<PartitionJob>, signal: AbortSignal, options: BackfillPartitionWorkerOptions): Promise<Outcome> {
  const data = job.data;
  const redis = options.connection;
  const keys = backfillKeys(options.prefix, data);
  const ttlMs = options.stateTtlMs ?? DEFAULT_BACKFILL_STATE_TTL_MS;
  const [cancelled, done] = await Promise.all([redis.sismember(keys.cancelled, String(data.attempt)), redis.sismember(keys.done, data.partition)]);
  if (cancelled === 1) return { partition: data.partition, skipped: 'cancelled' };
  if (done === 1) {
    await announce(redis, options.prefix, data);
    return { partition: data.partition, skipped: 'already_done' };
  }
  try {
    await runCall(data, signal, options);
  } catch (error) {
    // Aborted by a cancel (or BullMQ): not a failure of the partition, and never tried again here.
    if (signal.aborted) return { partition: data.partition, skipped: 'cancelled' };
    const failure = toStepError(error);
    const isLastTry = !failure.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    options.logger.warn({ runId: data.runId, stepId: data.stepId, partition: data.partition, code: failure.code, try: job.attemptsMade + 1, isLastTry }, 'backfill partition failed');
    if (isLastTry) {
      const record: FailedPartitionRecord = { code: failure.code, error: failure.message, attempt: data.attempt };
      await redis.multi().hset(keys.failed, data.partition, JSON.stringify(record)).pexpire(keys.failed, ttlMs).exec();
      await announce(redis, options.prefix, data);
    }
    throw failure.retryable ? new Error(`${failure.code}: ${failure.message}`) : new UnrecoverableError(`${failure.code}: ${failure.message}`);
  }
  await redis.multi().sadd(keys.done, data.partition).hdel(keys.failed, data.partition).pexpire(keys.done, ttlMs).exec();
  await announce(redis, options.prefix, data);
  return { partition: data.partition, ok: true };
}

/** Renders `{{ partition }}` into the call and runs it with the named executor. */
async function runCall(data: PartitionJob, signal: AbortSignal, options: BackfillPartitionWorkerOptions): Promise<unknown> {
  const executor = options.executors().get(data.executor);
  if (!executor) throw new ExecutorError('executor_unavailable', `no executor \`${data.executor}\` in this worker`, { retryable: false });
  const input = renderCall(data);
  const fields = { runId: data.runId, stepId: data.stepId, partition: data.partition };
  const ctx: ExecutorContext = {
    signal,
    idempotencyKey: `${data.idempotencyKey}/${data.partition}`,
    runId: data.runId,
    stepId: data.stepId,
    phase: data.phase,
    attempt: data.attempt,
    logger: {
      info: (f, m) => options.logger.info({ ...f, ...fields }, m),
      warn: (f, m) => options.logger.warn({ ...f, ...fields }, m),
    },
    // The worker does not know the run's secret params; the step worker redacts the backfill's
    // output and error, which is all of the partitions' outcome that reaches the run and the audit.
    redact: (text) => text,
  };
  return executor.run(input, ctx);
}

/** The call with `{{ partition }}` rendered; the same data always fails the same way, so not retryable. */
export function renderCall(data: Pick<PartitionJob, 'call' | 'partition'>): unknown {
  try {
    return renderValue(data.call, { partition: data.partition });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ExecutorError('template_eval', `backfill: the call could not be rendered for partition ${data.partition}: ${message}`, { retryable: false, cause: error });
  }
}

/** Wakes the run loops waiting on this backfill; a lost message only delays them to their next poll. */
async function announce(redis: Redis, prefix: string, data: PartitionJob): Promise<void> {
  await redis.publish(backfillChannels(prefix).settled, backfillId(data)).catch(() => 0);
}

function cancelKey(id: string, attempt: number): string {
  return `${id}#${attempt}`;
}

function parseCancel(text: string): CancelMessage | undefined {
  try {
    const value = JSON.parse(text) as Partial<CancelMessage>;
    return typeof value.id === 'string' && typeof value.attempt === 'number' ? { id: value.id, attempt: value.attempt } : undefined;
  } catch {
    return undefined;
  }
}

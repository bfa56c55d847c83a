/**
 * The `backfill` executor: a dataset over a date range, split into day or hour partitions, each
 * partition one job on the `backfill-partitions` queue that a partition worker
 * (`backfill-worker.ts`) runs as an `http`, `ssm` or `run` call with `{{ partition }}` rendered.
 *
 * This executor's `run` is the backfill's run loop, inside the step worker:
 * - it keeps at most `parallelism` partitions in flight, enqueueing the next as each settles
 *   (BullMQ concurrency is per worker, not per backfill, so the limit lives here and is exact);
 * - it skips partitions done by an earlier attempt or delivery (the done set is keyed by run,
 *   step and phase, not attempt), so a retried, resumed or redelivered backfill never redoes one;
 * - it wakes when a worker announces a settled partition (pub/sub), and polls as a fallback;
 * - it reports progress (`backfill progress` log lines, and `ctx.progress` when the engine gives one);
 * - on abort it stops enqueueing, removes its queued partition jobs, aborts those in flight, waits
 *   (bounded) for them to stop, and rejects with an AbortError.
 *
 * Output: `{ dataset, partition, from, to, total, done, failed: [], skipped_already_done,
 * duration_ms }`. When partitions fail after their tries: `backfill_partitions_failed`
 * (retryable: a step retry re-runs only the failed ones), listing them. Other errors:
 * `executor_input_invalid`, `backfill_too_many_partitions`, `executor_unavailable`, `template_eval`.
 *
 * Why plain jobs and not a BullMQ flow: a flow's parent waits for children added with it, but
 * here children are added a few at a time as others settle, and BullMQ does not move a parent back
 * to `waiting-children` when a child is added after the others completed; a failed child also
 * blocks its parent for good. The done/failed records are the parent's bookkeeping instead.
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { ExecutorError, type Executor, type ExecutorContext, type ExecutorRegistry } from './contract.ts';
import {
  BACKFILL_QUEUE,
  DEFAULT_BACKFILL_STATE_TTL_MS,
  MAX_BACKFILL_PARTITIONS,
  backfillChannels,
  backfillId,
  backfillKeys,
  listPartitions,
  partitionJobId,
  type BackfillProgress,
  type PartitionJob,
  type PartitionUnit,
} from './backfill-partitions.ts';
import { BackfillRun, type BackfillPlan, type BackfillRunSettings } from './backfill-run.ts';
import { renderCall } from './backfill-worker.ts';
import { BUILTIN_EXECUTOR_SPECS, backfillArgs, isTemplate } from './specs.ts';

export type { BackfillProgress } from './backfill-partitions.ts';
export type { BackfillOutput } from './backfill-run.ts';

export interface BackfillExecutorOptions {
  /** Connection for the partition queue and the loop's reads; duplicated once for the settle subscription. */
  readonly connection: Redis;
  /** BullMQ prefix (the engine's `keys.queuePrefix`); the partition workers must use the same. */
  readonly prefix: string;
  /** The executors partition calls name (`http`, `ssm`, `run`), checked before anything is enqueued. */
  readonly executors: () => ExecutorRegistry;
  /** Fallback check of partitions in flight when no settle notice arrives. @default 1000 */
  readonly pollIntervalMs?: number;
  /** Least time between two progress reports; the first and the last are always made. @default 1000 */
  readonly progressIntervalMs?: number;
  /** Tries of one partition (BullMQ `attempts`) before it counts as failed. @default 3 */
  readonly partitionAttempts?: number;
  /** Backoff before a partition's second try, doubled for each further try. @default 5000 */
  readonly partitionBackoffMs?: number;
  /** After an abort, how long to wait for partitions in flight to stop. @default 10000 */
  readonly abortGraceMs?: number;
  /** How long done/failed records live after their last change. @default 7 days */
  readonly stateTtlMs?: number;
  /** Most partitions per backfill. @default 10000 */
  readonly maxPartitions?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** The executor, plus `close()` for its queue and subscription (idempotent). */
export interface BackfillExecutor extends Executor {
  close(): Promise<void>;
}

/** What the run loop may read beside the contract: a progress callback, once the engine offers one. */
export interface ProgressReporting {
  readonly progress?: (progress: BackfillProgress) => void;
}

/** Creates the `backfill` executor (see the module comment for the loop, output and errors). */
export function createBackfillExecutor(options: BackfillExecutorOptions): BackfillExecutor {
  const settings = compileSettings(options);
  const notices = new SettleNotices();
  let started: Promise<{ queue: Queue<PartitionJob>; subscriber: Redis }> | undefined;
  let closing: Promise<void> | undefined;
  const start = () =>
    (started ??= startQueue(options, notices).catch((error: unknown) => {
      started = undefined;
      throw error;
    }));
  return {
    spec: specNamed('backfill'),
    run: async (input, ctx) => {
      const plan = parsePlan(input, options, settings.maxPartitions);
      if (closing) throw new ExecutorError('executor_unavailable', 'backfill: this worker is shutting down', { retryable: true });
      const { queue } = await start();
      const id = backfillId(ctx);
      notices.watch(id);
      try {
        const run = new BackfillRun(plan, ctx, {
          ...settings,
          queue,
          redis: options.connection,
          keys: backfillKeys(options.prefix, ctx),
          channels: backfillChannels(options.prefix),
          wait: (seen, ms) => notices.wait(id, seen, ms, ctx.signal),
          seen: () => notices.seen(id),
          report: reporterOf(ctx),
        });
        return await run.execute();
      } finally {
        notices.unwatch(id);
      }
    },
    plan: (input) => planBackfill(input, options),
    close: () =>
      (closing ??= (async () => {
        const resources = await started?.catch(() => undefined);
        await resources?.queue.close();
        await resources?.subscriber.quit().catch(() => resources.subscriber.disconnect());
      })()),
  };
}

function compileSettings(options: BackfillExecutorOptions): Omit<BackfillRunSettings, 'queue' | 'redis' | 'keys' | 'channels' | 'wait' | 'seen' | 'report'> & { maxPartitions: number } {
  const stateTtlMs = options.stateTtlMs ?? DEFAULT_BACKFILL_STATE_TTL_MS;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const jobOptions: JobsOptions = {
    attempts: options.partitionAttempts ?? 3,
    backoff: { type: 'exponential', delay: options.partitionBackoffMs ?? 5_000 },
    // The done set is the record of success; failed jobs stay a while for a person to inspect.
    removeOnComplete: true,
    removeOnFail: { age: Math.ceil(stateTtlMs / 1_000), count: 10_000 },
  };
  return {
    pollIntervalMs,
    reconcileIntervalMs: Math.max(5 * pollIntervalMs, 2_000),
    progressIntervalMs: options.progressIntervalMs ?? 1_000,
    abortGraceMs: options.abortGraceMs ?? 10_000,
    stateTtlMs,
    jobOptions,
    jobId: partitionJobId,
    clock: options.clock ?? Date.now,
    maxPartitions: options.maxPartitions ?? MAX_BACKFILL_PARTITIONS,
  };
}

async function startQueue(options: BackfillExecutorOptions, notices: SettleNotices): Promise<{ queue: Queue<PartitionJob>; subscriber: Redis }> {
  const channel = backfillChannels(options.prefix).settled;
  const subscriber = options.connection.duplicate();
  // A dropped subscription only slows loops down to their poll; ioredis resubscribes on reconnect.
  subscriber.on('error', () => undefined);
  subscriber.on('message', (from: string, id: string) => {
    if (from === channel) notices.notice(id);
  });
  await subscriber.subscribe(channel);
  const queue = new Queue<PartitionJob>(BACKFILL_QUEUE, { connection: options.connection, prefix: options.prefix });
  queue.on('error', () => undefined); // surfaced by the failing calls themselves
  return { queue, subscriber };
}

/** Validates the arguments, lists the partitions, and checks the call can run, before anything is enqueued. */
export function parsePlan(input: unknown, options: Pick<BackfillExecutorOptions, 'executors'>, maxPartitions = MAX_BACKFILL_PARTITIONS): BackfillPlan {
  const parsed = backfillArgs.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'arguments'}: ${issue.message}`));
  const args = parsed.data;
  const problems: string[] = [];
  for (const [key, value] of Object.entries({ dataset: args.dataset, from: args.from, to: args.to })) {
    if (isTemplate(value)) problems.push(`${key}: a template was never resolved: ${JSON.stringify(value)}`);
  }
  const unit: PartitionUnit | undefined = args.partition === 'day' || args.partition === 'hour' ? args.partition : undefined;
  if (!unit) problems.push(`partition: expected day or hour, found ${JSON.stringify(args.partition)}`);
  const parallelism = typeof args.parallelism === 'number' ? args.parallelism : undefined;
  if (parallelism === undefined) problems.push(`parallelism: expected a whole number from 1 to 64, found ${JSON.stringify(args.parallelism)}`);
  if (problems.length > 0 || !unit || parallelism === undefined) throw invalidInput(problems);
  const { executor, ...call } = args.call;
  const partitions = listPartitions(args.from, args.to, unit, maxPartitions);
  if (!options.executors().has(executor)) throw new ExecutorError('executor_unavailable', `backfill: no executor \`${executor}\` in this worker to run the partitions with`, { retryable: false });
  // Fails now, not once per partition, when the call cannot be rendered at all.
  if (partitions[0] !== undefined) renderCall({ call, partition: partitions[0] });
  return { dataset: args.dataset, unit, from: args.from, to: args.to, parallelism, executor, call, partitions };
}

function invalidInput(problems: readonly string[]): ExecutorError {
  return new ExecutorError('executor_input_invalid', `backfill: invalid arguments: ${problems.join('; ')}`, { retryable: false });
}

function reporterOf(ctx: ExecutorContext): (progress: BackfillProgress) => void {
  const report = (ctx as ExecutorContext & ProgressReporting).progress;
  return (progress) => {
    ctx.logger.info({ backfill: progress }, 'backfill progress');
    try {
      report?.(progress);
    } catch (error) {
      ctx.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'backfill progress callback failed');
    }
  };
}

/** `runbook plan`: the range, the partition count, the limit, then the nested call's own plan. Lenient with unresolved values. */
function planBackfill(input: unknown, options: Pick<BackfillExecutorOptions, 'executors'>): string[] {
  const args = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  const unit = args['partition'] === 'hour' ? 'hour' : 'day';
  const [from, to] = [String(args['from'] ?? '?'), String(args['to'] ?? '?')];
  let count = '?';
  try {
    count = String(listPartitions(from, to, unit).length);
  } catch {
    // Unresolved or invalid at plan time: the count is known only at run time.
  }
  const call = typeof args['call'] === 'object' && args['call'] !== null ? (args['call'] as Record<string, unknown>) : {};
  const { executor, ...callArgs } = call;
  const name = typeof executor === 'string' ? executor : '?';
  const nested = options.executors().get(name)?.plan?.(callArgs) ?? [];
  return [
    `backfill ${String(args['dataset'] ?? '?')}: ${count} ${unit} partitions from ${from} to ${to}, ${String(args['parallelism'] ?? 4)} at a time; partitions done by an earlier attempt are skipped`,
    `each partition: a \`${name}\` call with {{ partition }} rendered${nested.length > 0 ? ':' : ''}`,
    ...nested.map((line) => `  ${line}`),
  ];
}

function specNamed(name: string) {
  const found = BUILTIN_EXECUTOR_SPECS.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no built-in executor spec named ${name}`);
  return found;
}

/**
 * Settle notices per backfill, for the loops of this process: a counter and waiters. A loop reads
 * the counter before checking Redis and waits only if it has not moved since, so a notice that
 * arrives during the check is never lost. Only watched backfills are counted (notices of every
 * backfill in the deployment arrive here).
 */
class SettleNotices {
  private readonly entries = new Map<string, { refs: number; count: number; waiters: Set<() => void> }>();

  watch(id: string): void {
    const entry = this.entries.get(id) ?? { refs: 0, count: 0, waiters: new Set<() => void>() };
    entry.refs += 1;
    this.entries.set(id, entry);
  }

  unwatch(id: string): void {
    const entry = this.entries.get(id);
    if (entry && --entry.refs <= 0) this.entries.delete(id);
  }

  notice(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.count += 1;
    for (const wake of [...entry.waiters]) wake();
  }

  seen(id: string): number {
    return this.entries.get(id)?.count ?? 0;
  }

  /** Resolves on the next notice after `seen`, or after `ms`; rejects with an AbortError on abort. */
  wait(id: string, seen: number, ms: number, signal: AbortSignal): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry || entry.count !== seen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        entry.waiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
      };
      const wake = () => {
        finish();
        resolve();
      };
      const onAbort = () => {
        finish();
        const error = new Error('aborted');
        error.name = 'AbortError';
        reject(error);
      };
      const timer = setTimeout(wake, ms);
      entry.waiters.add(wake);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

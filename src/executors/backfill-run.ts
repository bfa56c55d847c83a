/**
 * One execution of a backfill's run loop (see `backfill.ts`): load what earlier attempts did,
 * keep `parallelism` partitions in flight, settle them from the done/failed records, report
 * progress, and on abort cancel what is queued or running.
 */
import type { JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ExecutorError, type ExecutorContext } from './contract.ts';
import {
  backfillId,
  parseFailedRecord,
  type BackfillChannels,
  type BackfillKeys,
  type BackfillProgress,
  type BackfillScope,
  type CancelMessage,
  type FailedPartitionRecord,
  type PartitionJob,
  type PartitionUnit,
} from './backfill-partitions.ts';

/** The validated arguments and the partition list. */
export interface BackfillPlan {
  readonly dataset: string;
  readonly unit: PartitionUnit;
  readonly from: string;
  readonly to: string;
  readonly parallelism: number;
  readonly executor: string;
  readonly call: Readonly<Record<string, unknown>>;
  readonly partitions: readonly string[];
}

export interface BackfillRunSettings {
  readonly queue: Queue<PartitionJob>;
  readonly redis: Redis;
  readonly keys: BackfillKeys;
  readonly channels: BackfillChannels;
  readonly jobOptions: JobsOptions;
  readonly jobId: (scope: BackfillScope, attempt: number, partition: string) => string;
  /** Waits for a settle notice after `seen`, at most `ms`; rejects on abort. */
  readonly wait: (seen: number, ms: number) => Promise<void>;
  readonly seen: () => number;
  readonly report: (progress: BackfillProgress) => void;
  readonly pollIntervalMs: number;
  /** How often jobs in flight are checked in BullMQ itself (failed without a record, vanished). */
  readonly reconcileIntervalMs: number;
  readonly progressIntervalMs: number;
  readonly abortGraceMs: number;
  readonly stateTtlMs: number;
  readonly clock: () => number;
}

/** What `steps.<id>.output` holds after a backfill. */
export interface BackfillOutput {
  readonly dataset: string;
  readonly partition: PartitionUnit;
  readonly from: string;
  readonly to: string;
  readonly total: number;
  readonly done: number;
  readonly failed: readonly { readonly partition: string; readonly code: string; readonly error: string }[];
  readonly skipped_already_done: number;
  readonly duration_ms: number;
}

/** Partitions named in the failure message; the rest are counted. */
const LISTED_FAILURES = 10;
const ERROR_EXCERPT_CHARS = 160;
/** Re-adds of a partition whose job vanished (removed by hand) before it counts as failed. */
const MAX_RELAUNCHES = 3;

export class BackfillRun {
  private readonly pending: string[] = [];
  /** partition → job id */
  private readonly inFlight = new Map<string, string>();
  private readonly failed = new Map<string, FailedPartitionRecord>();
  private readonly relaunches = new Map<string, number>();
  private done = 0;
  private skipped = 0;
  private readonly startedAt: number;
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private lastReported = '';
  private lastReconcileAt: number;

  constructor(
    private readonly plan: BackfillPlan,
    private readonly ctx: ExecutorContext,
    private readonly settings: BackfillRunSettings,
  ) {
    this.startedAt = settings.clock();
    this.lastReconcileAt = this.startedAt;
  }

  async execute(): Promise<BackfillOutput> {
    try {
      await this.load();
      await this.loop();
    } catch (error) {
      // Aborted, or the loop itself failed (Redis): either way no partition of this attempt may
      // keep running unseen, or a retry could run it a second time beside it.
      await this.cancel().catch(() => undefined);
      if (this.ctx.signal.aborted) throw abortError(`backfill of ${this.plan.dataset} aborted with ${this.done} of ${this.plan.partitions.length} partitions done`);
      throw error;
    }
    await this.recheckFailures();
    this.report(true);
    return this.finish();
  }

  /** A partition recorded failed may have been done since (its job redelivered after a crash). */
  private async recheckFailures(): Promise<void> {
    const partitions = [...this.failed.keys()];
    if (partitions.length === 0) return;
    const flags = await this.settings.redis.smismember(this.settings.keys.done, partitions);
    partitions.forEach((partition, i) => {
      if (flags[i] !== 1) return;
      this.failed.delete(partition);
      this.done += 1;
    });
  }

  /** Reads what earlier attempts (and earlier deliveries of this one) finished; forgets older failures. */
  private async load(): Promise<void> {
    const { redis, keys } = this.settings;
    // A loop running this attempt makes it live again: an earlier delivery of it may have been
    // cancelled by an error (a Redis blip) that BullMQ then answered by redelivering the step job.
    await redis.srem(keys.cancelled, String(this.ctx.attempt));
    const [doneList, failedAll] = await Promise.all([redis.smembers(keys.done), redis.hgetall(keys.failed)]);
    const done = new Set(doneList);
    const stale: string[] = [];
    for (const [partition, text] of Object.entries(failedAll)) {
      const record = parseFailedRecord(text);
      if (record && record.attempt === this.ctx.attempt && !done.has(partition)) this.failed.set(partition, record);
      else stale.push(partition);
    }
    // Failures of earlier attempts: this attempt runs those partitions again.
    if (stale.length > 0) await redis.hdel(keys.failed, ...stale);
    for (const partition of this.plan.partitions) {
      if (done.has(partition)) this.skipped += 1;
      else if (!this.failed.has(partition)) this.pending.push(partition);
    }
    this.done = this.skipped;
    if (this.skipped > 0) this.ctx.logger.info({ dataset: this.plan.dataset, skipped: this.skipped }, 'backfill: partitions done by an earlier attempt are skipped');
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.ctx.signal.throwIfAborted();
      await this.fill();
      if (this.inFlight.size === 0) return;
      const seen = this.settings.seen();
      await this.settle();
      if (this.settings.clock() - this.lastReconcileAt >= this.settings.reconcileIntervalMs) await this.reconcile();
      this.report(false);
      const canFill = this.pending.length > 0 && this.inFlight.size < this.plan.parallelism;
      if (this.inFlight.size > 0 && !canFill) await this.settings.wait(seen, this.settings.pollIntervalMs);
    }
  }

  /** Enqueues partitions until `parallelism` are in flight. */
  private async fill(): Promise<void> {
    const batch: string[] = [];
    while (this.inFlight.size + batch.length < this.plan.parallelism && this.pending.length > 0) {
      const next = this.pending.shift();
      if (next !== undefined) batch.push(next);
    }
    if (batch.length === 0) return;
    const jobs = batch.map((partition) => this.jobFor(partition));
    // Job ids are deterministic: after a redelivery of this attempt, what is still queued is not added twice.
    await this.settings.queue.addBulk(jobs);
    for (const job of jobs) this.inFlight.set(job.data.partition, job.opts.jobId);
  }

  private jobFor(partition: string): { name: string; data: PartitionJob; opts: JobsOptions & { jobId: string } } {
    const { runId, stepId, phase, attempt, idempotencyKey } = this.ctx;
    const data: PartitionJob = { runId, stepId, phase, attempt, partition, executor: this.plan.executor, call: this.plan.call, idempotencyKey };
    return { name: partition, data, opts: { ...this.settings.jobOptions, jobId: this.settings.jobId(this.ctx, attempt, partition) } };
  }

  /** Moves the partitions in flight that a worker recorded as done or failed out of flight. */
  private async settle(): Promise<void> {
    const partitions = [...this.inFlight.keys()];
    const { redis, keys } = this.settings;
    const [doneFlags, records] = await Promise.all([redis.smismember(keys.done, partitions), redis.hmget(keys.failed, ...partitions)]);
    partitions.forEach((partition, i) => {
      if (doneFlags[i] === 1) {
        this.inFlight.delete(partition);
        this.done += 1;
        return;
      }
      const record = parseFailedRecord(records[i]);
      if (record?.attempt === this.ctx.attempt) {
        this.inFlight.delete(partition);
        this.failed.set(partition, record);
      }
    });
  }

  /**
   * Looks at the jobs themselves, for what no record says: a job that failed without its worker
   * recording it (stalled more than allowed), or one that vanished (removed by hand) is re-added.
   */
  private async reconcile(): Promise<void> {
    this.lastReconcileAt = this.settings.clock();
    const { queue } = this.settings;
    for (const [partition, jobId] of [...this.inFlight]) {
      const state = await queue.getJobState(jobId);
      if (state === 'failed') {
        const job = await queue.getJob(jobId);
        await this.recordFailure(partition, { code: 'backfill_partition_failed', error: job?.failedReason ?? 'the partition job failed', attempt: this.ctx.attempt });
      } else if (state === 'unknown') {
        const relaunches = (this.relaunches.get(partition) ?? 0) + 1;
        this.relaunches.set(partition, relaunches);
        if (relaunches > MAX_RELAUNCHES) {
          await this.recordFailure(partition, { code: 'backfill_partition_lost', error: `its job ${jobId} vanished ${MAX_RELAUNCHES} times before it settled`, attempt: this.ctx.attempt });
        } else {
          const job = this.jobFor(partition);
          await queue.add(job.name, job.data, job.opts);
        }
      }
    }
    await this.settle();
  }

  private async recordFailure(partition: string, record: FailedPartitionRecord): Promise<void> {
    const { redis, keys } = this.settings;
    // Only if the worker has not recorded anything meanwhile: its record is the more precise.
    await redis.multi().hsetnx(keys.failed, partition, JSON.stringify(record)).pexpire(keys.failed, this.settings.stateTtlMs).exec();
  }

  /** Marks this attempt cancelled, removes its queued jobs, aborts those running, and waits for them (bounded). */
  private async cancel(): Promise<void> {
    const { redis, keys, queue } = this.settings;
    const jobIds = [...this.inFlight.values()];
    this.pending.length = 0;
    await redis.multi().sadd(keys.cancelled, String(this.ctx.attempt)).pexpire(keys.cancelled, this.settings.stateTtlMs).exec();
    const message: CancelMessage = { id: backfillId(this.ctx), attempt: this.ctx.attempt };
    await redis.publish(this.settings.channels.cancel, JSON.stringify(message));
    await Promise.all(jobIds.map((jobId) => queue.remove(jobId).catch(() => 0)));
    const deadline = this.settings.clock() + this.settings.abortGraceMs;
    while (this.settings.clock() < deadline) {
      const states = await Promise.all(jobIds.map((jobId) => queue.getJobState(jobId)));
      if (!states.some((state) => state === 'active' || state === 'waiting' || state === 'delayed')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.report(true);
  }

  private report(force: boolean): void {
    const progress: BackfillProgress = {
      kind: 'backfill',
      dataset: this.plan.dataset,
      total: this.plan.partitions.length,
      done: this.done,
      failed: this.failed.size,
      in_flight: this.inFlight.size,
      skipped_already_done: this.skipped,
    };
    const signature = `${progress.done}/${progress.failed}`;
    const now = this.settings.clock();
    if (!force && (signature === this.lastReported || now - this.lastReportAt < this.settings.progressIntervalMs)) return;
    this.lastReported = signature;
    this.lastReportAt = now;
    this.settings.report(progress);
  }

  private finish(): BackfillOutput {
    const failed = this.plan.partitions.flatMap((partition) => {
      const record = this.failed.get(partition);
      return record ? [{ partition, code: record.code, error: record.error }] : [];
    });
    const total = this.plan.partitions.length;
    if (failed.length > 0) {
      const listed = failed.slice(0, LISTED_FAILURES).map((f) => `${f.partition} (${f.code}: ${excerpt(f.error)})`);
      const more = failed.length > LISTED_FAILURES ? `, and ${failed.length - LISTED_FAILURES} more` : '';
      throw new ExecutorError(
        'backfill_partitions_failed',
        `${failed.length} of ${total} partitions of ${this.plan.dataset} failed after their tries: ${listed.join('; ')}${more}. ${this.done} are done and will be skipped by a retry.`,
        { retryable: true },
      );
    }
    return {
      dataset: this.plan.dataset,
      partition: this.plan.unit,
      from: this.plan.from,
      to: this.plan.to,
      total,
      done: this.done,
      failed,
      skipped_already_done: this.skipped,
      duration_ms: this.settings.clock() - this.startedAt,
    };
  }
}

function excerpt(text: string): string {
  return text.length <= ERROR_EXCERPT_CHARS ? text : `${text.slice(0, ERROR_EXCERPT_CHARS)}…`;
}

function abortError(message: string): Error {
  const error = new Error(message);
  error.name = 'AbortError';
  return error;
}

/**
 * The pieces of `backfill` that the executor (the run loop in a step worker) and the partition
 * worker share: the partition list, the Redis key layout, job ids and job data. Pure except for
 * the types; no Redis here.
 *
 * Key space of one backfill (DESIGN.md §2: keyed by run, step and phase, never by attempt, so a
 * retried or redelivered attempt sees what earlier attempts finished):
 * - `<prefix>:backfill:<run>:<step>:<phase>:done`: set of partitions done;
 * - `…:failed`: hash partition → JSON {@link FailedPartitionRecord} (after the partition's last try);
 * - `…:cancelled`: set of step attempts whose backfill was aborted (their queued jobs are skipped).
 */
import { ExecutorError } from './contract.ts';

/** The BullMQ queue that holds one job per partition. */
export const BACKFILL_QUEUE = 'backfill-partitions';

/** Most partitions one backfill may have: ~27 years of days, ~14 months of hours. */
export const MAX_BACKFILL_PARTITIONS = 10_000;

/** How long the done/failed records live after their last change: long enough for a retry or resume. */
export const DEFAULT_BACKFILL_STATE_TTL_MS = 7 * 24 * 3_600_000;

export type PartitionUnit = 'day' | 'hour';

/** Which backfill: the run, the step and the phase (`undo` of a step is a backfill of its own). */
export interface BackfillScope {
  readonly runId: string;
  readonly stepId: string;
  readonly phase: 'do' | 'undo';
}

export interface BackfillKeys {
  readonly done: string;
  readonly failed: string;
  readonly cancelled: string;
}

/** Pub/sub channels: `settled` (worker → run loops: a partition finished) and `cancel` (run loop → workers). */
export interface BackfillChannels {
  readonly settled: string;
  readonly cancel: string;
}

/** Data of one partition job; plain JSON, as BullMQ requires. */
export interface PartitionJob extends BackfillScope {
  /** The step attempt that enqueued it: failures are recorded per attempt, cancellation too. */
  readonly attempt: number;
  readonly partition: string;
  /** `http`, `ssm` or `run`. */
  readonly executor: string;
  /** The call's arguments with `{{ partition }}` still unrendered (everything else is resolved). */
  readonly call: Readonly<Record<string, unknown>>;
  /** The step attempt's idempotency key; the partition call gets `<key>/<partition>`. */
  readonly idempotencyKey: string;
}

/** What the `failed` hash holds per partition. */
export interface FailedPartitionRecord {
  readonly code: string;
  readonly error: string;
  readonly attempt: number;
}

/** Message on the `cancel` channel. */
export interface CancelMessage {
  readonly id: string;
  readonly attempt: number;
}

/**
 * A progress report of a backfill, as it moves. A type alias (not an interface) so that it is
 * assignable to a generic `Record<string, unknown>` progress callback.
 */
export type BackfillProgress = {
  readonly kind: 'backfill';
  readonly dataset: string;
  readonly total: number;
  /** Partitions done, those done by an earlier attempt included. */
  readonly done: number;
  /** Partitions that failed after their last try, in this attempt. */
  readonly failed: number;
  /** Partitions enqueued and not yet settled (at most `parallelism`). */
  readonly in_flight: number;
  /** Partitions an earlier attempt had already done, not run again. */
  readonly skipped_already_done: number;
};

/** One id per backfill, used in messages between loops and workers: `run/step/phase`. */
export function backfillId(scope: BackfillScope): string {
  return `${scope.runId}/${scope.stepId}/${scope.phase}`;
}

export function backfillKeys(prefix: string, scope: BackfillScope): BackfillKeys {
  const base = `${prefix}:backfill:${scope.runId}:${scope.stepId}:${scope.phase}`;
  return { done: `${base}:done`, failed: `${base}:failed`, cancelled: `${base}:cancelled` };
}

export function backfillChannels(prefix: string): BackfillChannels {
  return { settled: `${prefix}:backfill:settled`, cancel: `${prefix}:backfill:cancel` };
}

/**
 * `bf-<run>-<step>-<phase>-<attempt>-<partition>`: deterministic, so a redelivered run loop re-adds
 * nothing twice; per attempt, because a kept failed job would swallow the retry's re-add
 * (REFERENCE.md §5.3). BullMQ refuses `:` in custom ids, so any is replaced.
 */
export function partitionJobId(scope: BackfillScope, attempt: number, partition: string): string {
  return ['bf', scope.runId, scope.stepId, scope.phase, attempt, partition].map((part) => String(part).replace(/:/g, '_')).join('-');
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?$/;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * Every partition from `from` to `to`, both included, in order: `YYYY-MM-DD` per day, or
 * `YYYY-MM-DDTHH` per hour (UTC). For hours, a date without an hour means its first hour as
 * `from` and its last hour as `to`, so `2024-05-01`..`2024-05-02` is 48 partitions.
 * Throws `executor_input_invalid` for a bad range, `backfill_too_many_partitions` above `max`.
 */
export function listPartitions(from: string, to: string, unit: PartitionUnit, max = MAX_BACKFILL_PARTITIONS): string[] {
  const start = parseInstant(from, 'from', unit, 'start');
  const end = parseInstant(to, 'to', unit, 'end');
  const step = unit === 'day' ? DAY_MS : HOUR_MS;
  if (end < start) throw new ExecutorError('executor_input_invalid', `backfill: \`to\` (${to}) is before \`from\` (${from})`, { retryable: false });
  const count = Math.floor((end - start) / step) + 1;
  if (count > max) {
    throw new ExecutorError(
      'backfill_too_many_partitions',
      `backfill: ${from} to ${to} by ${unit} is ${count} partitions, more than the ${max} allowed; split the range into several backfills`,
      { retryable: false },
    );
  }
  return Array.from({ length: count }, (_, i) => formatPartition(start + i * step, unit));
}

function parseInstant(value: string, key: string, unit: PartitionUnit, edge: 'start' | 'end'): number {
  const m = DATE.exec(value);
  const [year, month, day] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
  const hour = m?.[4] === undefined ? undefined : Number(m[4]);
  const at = Date.UTC(year, month - 1, day);
  const date = new Date(at);
  const isValid = m !== null && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && (hour ?? 0) <= 23;
  if (!isValid) throw new ExecutorError('executor_input_invalid', `backfill: \`${key}\`: expected a date such as 2024-05-01 (or 2024-05-01T13 for hours), found ${JSON.stringify(value)}`, { retryable: false });
  if (unit === 'day') {
    if (hour !== undefined) throw new ExecutorError('executor_input_invalid', `backfill: \`${key}\` (${value}) has an hour: use \`partition: hour\``, { retryable: false });
    return at;
  }
  return at + (hour ?? (edge === 'start' ? 0 : 23)) * HOUR_MS;
}

function formatPartition(at: number, unit: PartitionUnit): string {
  const iso = new Date(at).toISOString();
  return unit === 'day' ? iso.slice(0, 10) : iso.slice(0, 13);
}

/** Parses a `failed` hash value; undefined when it is not one (written by another version). */
export function parseFailedRecord(text: string | null | undefined): FailedPartitionRecord | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<FailedPartitionRecord>;
    if (typeof value.attempt !== 'number' || typeof value.error !== 'string') return undefined;
    return { code: typeof value.code === 'string' ? value.code : 'backfill_partition_failed', error: value.error, attempt: value.attempt };
  } catch {
    return undefined;
  }
}

import type { AuditRecord, AuditRecordInput } from './record.ts';
import type { VerifyOptions, VerifyResult } from './verify.ts';

/**
 * Which records {@link AuditStore.list} and {@link AuditStore.stream} return, always in ascending
 * seq order. Every given field must match.
 */
export interface AuditListFilter {
  readonly runId?: string;
  readonly incidentId?: string;
  readonly runbookId?: string;
  /** Exact actor: a Slack user id, `pagerduty`, `cli:<user>` or `system`. */
  readonly actor?: string;
  /**
   * An exact event type (`approval.granted`), or a prefix ending in `.` or `.*` (`approval.`,
   * `approval.*`) for every type under it.
   */
  readonly type?: string;
  /** Only records at or after this time (epoch milliseconds). */
  readonly fromAt?: number;
  /** Only records at or before this time (epoch milliseconds). */
  readonly toAt?: number;
  /** Only records with a greater seq: page by passing the last seq of the previous page. */
  readonly afterSeq?: number;
  /**
   * At most this many records (1 to {@link MAX_LIST_LIMIT} for `list`; any positive count, or
   * unlimited when left out, for `stream`).
   * @default 1000 (list), unlimited (stream)
   */
  readonly limit?: number;
}

/** Which runs {@link AuditStore.runs} returns, newest first. */
export interface AuditRunFilter {
  readonly runbookId?: string;
  readonly incidentId?: string;
  /** Who requested the run (the actor of its `run.started` record). */
  readonly requester?: string;
  /** `active` (no `run.finished` record yet) or a final status (`succeeded`, `failed`, ...). */
  readonly status?: string;
  /** Runs started at or after this time (epoch ms). */
  readonly fromAt?: number;
  /** Runs started at or before this time (epoch ms). */
  readonly toAt?: number;
  /** Only runs whose `run.started` record has a smaller seq: page by passing the previous page's last `startSeq`. */
  readonly beforeSeq?: number;
  /**
   * At most this many runs (1 to {@link MAX_LIST_LIMIT}).
   * @default 1000
   */
  readonly limit?: number;
}

/** One run as the audit log tells it: from its `run.started` and `run.finished` records. */
export interface AuditRunSummary {
  readonly runId: string;
  readonly runbookId?: string;
  /** Hash of the runbook source the run was pinned to. */
  readonly runbookHash?: string;
  readonly incidentId?: string;
  readonly requester: string;
  /** Seq of the `run.started` record (the paging cursor). */
  readonly startSeq: number;
  readonly startedAt: number;
  readonly finishedAt?: number;
  /** The final status from `run.finished`, or `active` while there is none. */
  readonly status: string;
}

/** Default page size of {@link AuditStore.list}. */
export const DEFAULT_LIST_LIMIT = 1000;
/** Largest page {@link AuditStore.list} returns. */
export const MAX_LIST_LIMIT = 10_000;

/** What {@link AuditStore.appendDigest} signs and why. */
export interface AppendDigestOptions {
  /**
   * Deterministic record id, so several processes (or a retry) appending the same digest append it
   * once, e.g. `digest.periodic.<hour number>`.
   */
  readonly id: string;
  /** Epoch ms stamped on the digest. @default Date.now() */
  readonly at?: number;
  /** Why it was appended: `periodic`, `run.finished`, `manual`. @default 'periodic' */
  readonly reason?: string;
}

/**
 * The durable, hash-chained, write-ahead audit log. The engine appends a run's records before it
 * dispatches the effects they describe; reviewers list, stream, export and verify them.
 * Implementations: SQLite (`openSqliteAuditStore`) and PostgreSQL (`openPostgresAuditStore`),
 * chosen by `openAuditStore`; both pass the same contract tests.
 *
 * Every method rejects with an `AuditStoreError` whose `code` and `retryable` say what to do.
 */
export interface AuditStore {
  /**
   * Appends a batch atomically (all or nothing) and returns one stored record per input, in input
   * order. An id already present (or repeated in the batch) is not appended again: its stored
   * record is returned, so a retried outbox drain is harmless. Seq, prevHash and hash are assigned
   * under a write lock that spans processes, so concurrent appenders never fork the chain. With a
   * signing key, a batch that appends a `run.finished` record also appends, in the same
   * transaction, an `audit.digest` record signing the new head (id `<run.finished id>.digest`).
   */
  append(records: readonly AuditRecordInput[]): Promise<readonly AuditRecord[]>;
  /**
   * Appends an `audit.digest` record signing the current head. Resolves `undefined` without
   * appending when there is no signing key, the chain is empty, or its head is already a digest.
   */
  appendDigest(options: AppendDigestOptions): Promise<AuditRecord | undefined>;
  /** Records matching every given filter field, ascending by seq (one page; see `limit`). */
  list(filter?: AuditListFilter): Promise<readonly AuditRecord[]>;
  /**
   * Every matching record in seq order, read a page at a time, so exporting a million records
   * holds one page in memory. Break out of the loop to stop early.
   */
  stream(filter?: Omit<AuditListFilter, 'limit'> & { readonly limit?: number }): AsyncIterable<AuditRecord>;
  /** One summary per run, newest first: the reviewer page's run list. */
  runs(filter?: AuditRunFilter): Promise<readonly AuditRunSummary[]>;
  /** The record at `seq`, or `undefined`. */
  get(seq: number): Promise<AuditRecord | undefined>;
  /** The last record's seq and hash (to anchor or sign the chain), or `undefined` when empty. */
  head(): Promise<{ seq: number; hash: string } | undefined>;
  /**
   * Streams through every record in seq order, recomputing each hash and link and checking every
   * digest (signature, the head it signs, and that the chain still reaches every digest ever
   * appended), and reports the first failure. Does not hold the write lock.
   */
  verify(options?: VerifyOptions): Promise<VerifyResult>;
  /** Releases the store. Idempotent; other methods then reject with `audit_store_closed`. */
  close(): Promise<void>;
}

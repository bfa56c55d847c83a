import type { AuditRecord, AuditRecordInput } from './record.ts';
import type { VerifyResult } from './verify.ts';

/** Which records {@link AuditStore.list} returns, always in ascending seq order. */
export interface AuditListFilter {
  readonly runId?: string;
  readonly type?: string;
  /** Only records with a greater seq: page by passing the last seq of the previous page. */
  readonly afterSeq?: number;
  /**
   * At most this many records (1 to {@link MAX_LIST_LIMIT}).
   * @default 1000
   */
  readonly limit?: number;
}

/** Default page size of {@link AuditStore.list}. */
export const DEFAULT_LIST_LIMIT = 1000;
/** Largest page {@link AuditStore.list} returns. */
export const MAX_LIST_LIMIT = 10_000;

/**
 * The durable, hash-chained, write-ahead audit log. The engine appends a run's records before it
 * dispatches the effects they describe; reviewers list and verify them. Implementations: SQLite
 * (`openSqliteAuditStore`); PostgreSQL comes later behind the same interface.
 *
 * Every method rejects with an `AuditStoreError` whose `code` and `retryable` say what to do.
 */
export interface AuditStore {
  /**
   * Appends a batch atomically (all or nothing) and returns one stored record per input, in input
   * order. An id already present (or repeated in the batch) is not appended again: its stored
   * record is returned, so a retried outbox drain is harmless. Seq, prevHash and hash are assigned
   * under a write lock that spans processes, so concurrent appenders never fork the chain.
   */
  append(records: readonly AuditRecordInput[]): Promise<readonly AuditRecord[]>;
  /** Records matching every given filter field, ascending by seq. */
  list(filter?: AuditListFilter): Promise<readonly AuditRecord[]>;
  /** The last record's seq and hash (to anchor or sign the chain), or `undefined` when empty. */
  head(): Promise<{ seq: number; hash: string } | undefined>;
  /**
   * Streams through every record in seq order, recomputing each hash and link, and reports the
   * first failure. Does not hold the write lock: appends may continue while it runs.
   */
  verify(): Promise<VerifyResult>;
  /** Releases the store. Idempotent; other methods then reject with `audit_store_closed`. */
  close(): Promise<void>;
}

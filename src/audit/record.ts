import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';

/**
 * What the engine appends: one run transition, approval, or ignored event. Records are written
 * before the side effects they describe are dispatched, so they must be plain JSON and cheap.
 */
export interface AuditRecordInput {
  /**
   * Unique and deterministic (e.g. `${runId}.${version}.${n}`), so a retried outbox drain appends
   * nothing new: appending an id already present is a no-op that returns the stored record.
   */
  readonly id: string;
  /** When it happened, epoch milliseconds (a non-negative integer). */
  readonly at: number;
  readonly runId?: string;
  readonly incidentId?: string;
  /** Who caused it: a Slack user id, `'pagerduty'`, `'cli:<user>'` or `'system'`. */
  readonly actor: string;
  /** Dotted lowercase event name: `run.requested`, `step.succeeded`, `approval.granted`, ... */
  readonly type: string;
  /** Plain JSON. Secrets the store recognises are replaced with `"[redacted]"` before hashing. */
  readonly data: unknown;
  readonly runbookId?: string;
  /** Hash of the runbook source the run is pinned to, so reviewers know exactly what ran. */
  readonly runbookHash?: string;
}

/** A stored record: the input as redacted, its position in the chain, and the chain hashes. */
export interface AuditRecord extends AuditRecordInput {
  /** 1-based, contiguous, assigned by the store under its write lock. */
  readonly seq: number;
  /** `hash` of the record at `seq - 1`, or {@link GENESIS_HASH} for seq 1. */
  readonly prevHash: string;
  /** Lowercase hex SHA-256 of the record's canonical JSON; see {@link hashAuditRecord}. */
  readonly hash: string;
}

/** The `prevHash` of the first record: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The chain hash of a record: hex SHA-256 of the canonical JSON of
 * `{ seq, id, at, runId, incidentId, actor, type, data, runbookId, runbookHash, prevHash }`, absent
 * optional fields omitted. Every store computes hashes here, so a chain can move between stores.
 */
export function hashAuditRecord(record: Omit<AuditRecord, 'hash'>): string {
  const { seq, id, at, runId, incidentId, actor, type, data, runbookId, runbookHash, prevHash } = record;
  const hashed = { seq, id, at, runId, incidentId, actor, type, data, runbookId, runbookHash, prevHash };
  return createHash('sha256').update(canonicalJson(hashed), 'utf8').digest('hex');
}

/** Places a validated, redacted input in the chain after the record whose hash is `prevHash`. */
export function sealAuditRecord(input: AuditRecordInput, seq: number, prevHash: string): AuditRecord {
  const unsealed = { ...withoutUndefined(input), seq, prevHash };
  return { ...unsealed, hash: hashAuditRecord(unsealed) };
}

/** Drops properties whose value is `undefined`, so stored and re-read records compare equal. */
export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}

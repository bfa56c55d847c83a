import { GENESIS_HASH, hashAuditRecord, type AuditRecord } from './record.ts';

/** Why a chain failed verification. */
export type VerifyFailureReason =
  /** A record's stored hash is not the hash of its contents: the record was changed, moved or forged. */
  | 'hash_mismatch'
  /** A record's `prevHash` is not its predecessor's hash: a neighbour was changed and re-hashed. */
  | 'broken_link'
  /** Sequence numbers are not contiguous from 1: records were deleted (or inserted out of place). */
  | 'sequence_gap';

/** Where and why a chain first fails. */
export interface VerifyFailure {
  readonly firstBadSeq: number;
  readonly reason: VerifyFailureReason;
  /** One line for a person: what was expected, what was found. */
  readonly detail: string;
}

/**
 * The outcome of verifying a whole chain. `count` is the number of records that verified: all of
 * them when `ok`, else the intact prefix before `firstBadSeq`. Deleting records from the *end* of
 * the chain cannot be detected from the chain alone; compare against a recorded `head()`.
 */
export type VerifyResult =
  | { readonly ok: true; readonly count: number }
  | ({ readonly ok: false; readonly count: number } & VerifyFailure);

/** A stored row that could not even be turned into a record (e.g. its `data` is not JSON). */
export interface UnreadableAuditRecord {
  readonly seq: number;
  /** Why, for the failure's `detail`. */
  readonly unreadable: string;
}

/** Checks records one at a time, in seq order, so a store can stream any number of them. */
export interface ChainVerifier {
  /** Checks the next record; returns the failure (and stops counting) or `undefined` when it links. */
  next(record: AuditRecord | UnreadableAuditRecord): VerifyFailure | undefined;
  /** The result so far: ok with the count of verified records, or the first failure. */
  result(): VerifyResult;
}

/** Starts verifying a chain from genesis. Store-independent: every {@link AuditStore} uses it. */
export function createChainVerifier(): ChainVerifier {
  let count = 0;
  let previous: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH };
  let failure: VerifyFailure | undefined;

  return {
    next(record) {
      if (failure !== undefined) return failure;
      failure = checkRecord(record, previous);
      if (failure === undefined && !('unreadable' in record)) {
        count += 1;
        previous = { seq: record.seq, hash: record.hash };
      }
      return failure;
    },
    result() {
      return failure === undefined ? { ok: true, count } : { ok: false, count, ...failure };
    },
  };
}

function checkRecord(record: AuditRecord | UnreadableAuditRecord, previous: { seq: number; hash: string }): VerifyFailure | undefined {
  const expectedSeq = previous.seq + 1;
  if (record.seq !== expectedSeq) return sequenceGap(record.seq, expectedSeq);
  if ('unreadable' in record) return { firstBadSeq: record.seq, reason: 'hash_mismatch', detail: `seq ${record.seq}: ${record.unreadable}` };
  const { hash, ...unsealed } = record;
  const recomputed = hashAuditRecord(unsealed);
  if (recomputed !== hash) {
    return {
      firstBadSeq: record.seq,
      reason: 'hash_mismatch',
      detail: `seq ${record.seq} (id ${JSON.stringify(record.id)}): stored hash ${hash.slice(0, 12)}… but its contents hash to ${recomputed.slice(0, 12)}…; the record was altered, moved or forged`,
    };
  }
  if (record.prevHash !== previous.hash) {
    return {
      firstBadSeq: record.seq,
      reason: 'broken_link',
      detail: `seq ${record.seq}: prevHash ${record.prevHash.slice(0, 12)}… does not match the hash ${previous.hash.slice(0, 12)}… of ${previous.seq === 0 ? 'genesis' : `seq ${previous.seq}`}`,
    };
  }
  return undefined;
}

function sequenceGap(foundSeq: number, expectedSeq: number): VerifyFailure {
  if (foundSeq > expectedSeq) {
    const missing = foundSeq - 1 === expectedSeq ? `seq ${expectedSeq} is` : `seqs ${expectedSeq}–${foundSeq - 1} are`;
    return { firstBadSeq: expectedSeq, reason: 'sequence_gap', detail: `${missing} missing: after ${expectedSeq === 1 ? 'genesis' : `seq ${expectedSeq - 1}`} the next record is seq ${foundSeq}` };
  }
  return { firstBadSeq: foundSeq, reason: 'sequence_gap', detail: `expected seq ${expectedSeq}, found seq ${foundSeq} out of order` };
}

import { checkDigestRecord, DIGEST_TYPE, type DigestKey } from './digest.ts';
import { GENESIS_HASH, hashAuditRecord, type AuditRecord } from './record.ts';

/** Why a chain failed verification. */
export type VerifyFailureReason =
  /** A record's stored hash is not the hash of its contents: the record was changed, moved or forged. */
  | 'hash_mismatch'
  /** A record's `prevHash` is not its predecessor's hash: a neighbour was changed and re-hashed. */
  | 'broken_link'
  /** Sequence numbers are not contiguous from 1: records were deleted (or inserted out of place). */
  | 'sequence_gap'
  /** A digest record's signature does not verify, or it signs a head other than the record before it. */
  | 'digest_invalid'
  /** A record a digest was appended as (kept in the store's digest index) is now different. */
  | 'digest_anchor_mismatch'
  /** The chain ends before a digest that was appended: its tail was cut off. */
  | 'truncated';

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
 * the chain cannot be detected from the chain alone: it is detected back to the last digest, whose
 * seq and hash the store also keeps in its digest index (and which an operator can keep elsewhere).
 */
export type VerifyResult =
  | ({ readonly ok: true; readonly count: number } & DigestReport)
  | ({ readonly ok: false; readonly count: number } & DigestReport & VerifyFailure);

/** Present on a result when digests were seen or a key was given. */
export interface DigestReport {
  readonly digests?: {
    /** Digest records whose signature was checked with the key. */
    readonly checked: number;
    /** Digest records seen without a key to check them (only their link to the head was checked). */
    readonly unchecked: number;
    /** Seq of the last digest record in the chain. */
    readonly lastSeq?: number;
  };
}

/** What a verifier checks beyond hashes and links. */
export interface VerifyOptions {
  /** Checks digest signatures; without one they are counted as unchecked. */
  readonly key?: DigestKey;
}

/** Options of {@link createChainVerifier}. */
export interface ChainVerifierOptions extends VerifyOptions {
  /**
   * seq → hash of every digest record ever appended, from the store's digest index: a chain that
   * no longer holds one of them (cut off, or rewritten and re-hashed) fails.
   */
  readonly anchors?: ReadonlyMap<number, string>;
}

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
  /** The result: ok with the count of verified records, or the first failure. Call after the last record. */
  result(): VerifyResult;
}

/** Starts verifying a chain from genesis. Store-independent: every {@link AuditStore} uses it. */
export function createChainVerifier(options: ChainVerifierOptions = {}): ChainVerifier {
  const { key, anchors } = options;
  let count = 0;
  let previous: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH };
  let failure: VerifyFailure | undefined;
  const digests = { checked: 0, unchecked: 0, lastSeq: undefined as number | undefined };

  return {
    next(record) {
      if (failure !== undefined) return failure;
      failure = checkRecord(record, previous) ?? (('unreadable' in record) ? undefined : checkDigest(record, key, anchors, digests));
      if (failure === undefined && !('unreadable' in record)) {
        count += 1;
        previous = { seq: record.seq, hash: record.hash };
      }
      return failure;
    },
    result() {
      failure ??= checkReachesAnchors(previous, anchors);
      const seen = digests.checked + digests.unchecked > 0 || key !== undefined;
      const report = seen ? { digests: { checked: digests.checked, unchecked: digests.unchecked, ...(digests.lastSeq === undefined ? {} : { lastSeq: digests.lastSeq }) } } : {};
      return failure === undefined ? { ok: true, count, ...report } : { ok: false, count, ...report, ...failure };
    },
  };
}

function checkDigest(record: AuditRecord, key: DigestKey | undefined, anchors: ReadonlyMap<number, string> | undefined, digests: { checked: number; unchecked: number; lastSeq: number | undefined }): VerifyFailure | undefined {
  const anchored = anchors?.get(record.seq);
  if (anchored !== undefined && anchored !== record.hash) {
    return { firstBadSeq: record.seq, reason: 'digest_anchor_mismatch', detail: `seq ${record.seq}: a digest with hash ${anchored.slice(0, 12)}… was appended here, but the record now hashes to ${record.hash.slice(0, 12)}…; the chain was rewritten` };
  }
  if (record.type !== DIGEST_TYPE) {
    if (anchored !== undefined) return { firstBadSeq: record.seq, reason: 'digest_anchor_mismatch', detail: `seq ${record.seq}: a digest was appended here, but the record is now a ${record.type}` };
    return undefined;
  }
  const problem = checkDigestRecord(record, key);
  if (problem !== undefined) return { firstBadSeq: record.seq, reason: 'digest_invalid', detail: `seq ${record.seq} (digest ${JSON.stringify(record.id)}): ${problem}` };
  if (key === undefined) digests.unchecked += 1;
  else digests.checked += 1;
  digests.lastSeq = record.seq;
  return undefined;
}

function checkReachesAnchors(last: { seq: number }, anchors: ReadonlyMap<number, string> | undefined): VerifyFailure | undefined {
  let furthest = 0;
  for (const seq of anchors?.keys() ?? []) furthest = Math.max(furthest, seq);
  if (furthest <= last.seq) return undefined;
  return {
    firstBadSeq: last.seq + 1,
    reason: 'truncated',
    detail: `the chain ends at ${last.seq === 0 ? 'genesis' : `seq ${last.seq}`}, but a digest was appended at seq ${furthest}: records from seq ${last.seq + 1} on were removed`,
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

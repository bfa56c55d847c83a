/**
 * The write-ahead audit log: hash-chained records of every run transition, appended before the
 * side effects they describe are dispatched (DESIGN.md §2), with signed digests of the chain head.
 */
export { canonicalJson, CanonicalJsonError } from './canonical-json.ts';
export { checkDigestRecord, DIGEST_TYPE, digestRecordInput, generateDigestKeys, parseDigestKey, type DigestData, type DigestKey } from './digest.ts';
export { startDigestTimer, type DigestTimer, type DigestTimerOptions } from './digest-timer.ts';
export { AUDIT_ERROR_RETRYABLE, AuditStoreError, isAuditStoreError, type AuditErrorCode } from './errors.ts';
export { openAuditStore, type OpenAuditStoreOptions } from './open.ts';
export { openPostgresAuditStore, type PostgresAuditStoreOptions } from './postgres-store.ts';
export { GENESIS_HASH, hashAuditRecord, sealAuditRecord, type AuditRecord, type AuditRecordInput } from './record.ts';
export { isAuditActor, prepareAuditRecords } from './prepare-records.ts';
export { REDACTED, redactSecrets } from './redact.ts';
export { auditStorePath, openSqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite-store.ts';
export {
  DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, type AppendDigestOptions, type AuditListFilter, type AuditRunFilter, type AuditRunSummary, type AuditStore,
} from './store.ts';
export {
  createChainVerifier, type ChainVerifier, type ChainVerifierOptions, type UnreadableAuditRecord, type VerifyFailure, type VerifyFailureReason,
  type VerifyOptions, type VerifyResult,
} from './verify.ts';

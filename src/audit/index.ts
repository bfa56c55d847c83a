/**
 * The write-ahead audit log: hash-chained records of every run transition, appended before the
 * side effects they describe are dispatched (DESIGN.md §2).
 */
export { canonicalJson, CanonicalJsonError } from './canonical-json.ts';
export { AUDIT_ERROR_RETRYABLE, AuditStoreError, isAuditStoreError, type AuditErrorCode } from './errors.ts';
export { GENESIS_HASH, hashAuditRecord, sealAuditRecord, type AuditRecord, type AuditRecordInput } from './record.ts';
export { prepareAuditRecords } from './prepare-records.ts';
export { REDACTED, redactSecrets } from './redact.ts';
export { auditStorePath, openSqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite-store.ts';
export { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, type AuditListFilter, type AuditStore } from './store.ts';
export {
  createChainVerifier, type ChainVerifier, type UnreadableAuditRecord, type VerifyFailure, type VerifyFailureReason, type VerifyResult,
} from './verify.ts';

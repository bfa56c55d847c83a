/** Every way the audit store fails, and whether the same call may succeed if retried. */
export const AUDIT_ERROR_RETRYABLE = {
  /** The database could not be reached, was locked past the busy timeout, or the disk failed: retry later. */
  audit_store_unavailable: true,
  /** A record is malformed (missing actor, non-JSON data, ...): retrying the same batch fails again. */
  audit_record_invalid: false,
  /** A `list` filter is malformed. */
  audit_query_invalid: false,
  /** `openSqliteAuditStore` was given bad options: fix the configuration. */
  audit_config_invalid: false,
  /** The store was closed by this process. */
  audit_store_closed: false,
  /** The database file is damaged or was written by a newer schema: an operator must look. */
  audit_store_corrupt: false,
} as const;

/** The `code` of an {@link AuditStoreError}. */
export type AuditErrorCode = keyof typeof AUDIT_ERROR_RETRYABLE;

/**
 * A failure of the audit store. Code that crosses a process or queue boundary (the outbox drain)
 * switches on `code` and `retryable`, never on `instanceof`.
 */
export class AuditStoreError extends Error {
  readonly code: AuditErrorCode;
  readonly retryable: boolean;

  constructor(code: AuditErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditStoreError';
    this.code = code;
    this.retryable = AUDIT_ERROR_RETRYABLE[code];
  }
}

/** Whether `error` is an {@link AuditStoreError}-shaped value with the given code (works across realms). */
export function isAuditStoreError(error: unknown, code?: AuditErrorCode): error is AuditStoreError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; retryable?: unknown };
  if (typeof candidate.code !== 'string' || !(candidate.code in AUDIT_ERROR_RETRYABLE)) return false;
  return typeof candidate.retryable === 'boolean' && (code === undefined || candidate.code === code);
}

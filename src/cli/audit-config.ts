/**
 * The audit store's environment (DESIGN.md §5): `DATABASE_URL` (PostgreSQL; else SQLite in
 * `DATA_DIR`), `AUDIT_DATABASE_SCHEMA`, `AUDIT_SIGNING_KEY` (digests; see src/audit/digest.ts for
 * the format) and `AUDIT_DIGEST_INTERVAL` (periodic digests in the worker). Values are never echoed.
 */
import { parseDigestKey } from '../audit/digest.ts';
import { isAuditStoreError } from '../audit/errors.ts';
import { parseDuration } from '../machines/durations.ts';

export interface AuditConfig {
  /** `DATABASE_URL`: the PostgreSQL audit store; unset: SQLite in `DATA_DIR`. */
  readonly databaseUrl?: string;
  /** `AUDIT_DATABASE_SCHEMA`: the PostgreSQL schema. @default 'runbook_audit' */
  readonly schema: string;
  /** `AUDIT_SIGNING_KEY`, checked: signs digests. Unset: no digests (verify warns). */
  readonly signingKey?: string;
  /** `AUDIT_DIGEST_INTERVAL` (a duration such as `1h`, `15m`). @default 3_600_000 */
  readonly digestIntervalMs: number;
}

/** Reads the audit settings; `problems` lists every bad value without echoing secrets. */
export function auditConfigFromEnv(env: Readonly<Record<string, string | undefined>>): { config: AuditConfig; problems: string[] } {
  const value = (name: string) => (env[name]?.trim() ? env[name]?.trim() : undefined);
  const problems: string[] = [];
  const databaseUrl = value('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(?:ql)?:\/\/[^\s]+$/.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a PostgreSQL URL such as postgres://user@127.0.0.1:5432/runbook (value not shown)');
  }
  const schema = value('AUDIT_DATABASE_SCHEMA') ?? 'runbook_audit';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) problems.push(`AUDIT_DATABASE_SCHEMA must be a lowercase SQL identifier such as runbook_audit; got ${JSON.stringify(schema)}`);
  const signingKey = value('AUDIT_SIGNING_KEY');
  if (signingKey !== undefined) {
    try {
      if (!parseDigestKey(signingKey).canSign) problems.push('AUDIT_SIGNING_KEY is a public key: digests need the private key (ed25519:…) or an HMAC secret (hmac-sha256:…)');
    } catch (error) {
      problems.push(isAuditStoreError(error) ? error.message : 'AUDIT_SIGNING_KEY is not a valid key (value not shown)');
    }
  }
  const intervalText = value('AUDIT_DIGEST_INTERVAL');
  const digestIntervalMs = intervalText === undefined ? 3_600_000 : parseDuration(intervalText);
  if (digestIntervalMs === undefined || digestIntervalMs < 1000) problems.push(`AUDIT_DIGEST_INTERVAL must be a duration of at least 1s such as 1h or 15m; got ${JSON.stringify(intervalText)}`);
  return {
    config: {
      ...(databaseUrl ? { databaseUrl } : {}),
      schema,
      ...(signingKey ? { signingKey } : {}),
      digestIntervalMs: digestIntervalMs ?? 3_600_000,
    },
    problems,
  };
}

import { parseDigestKey, type DigestKey } from './digest.ts';
import { openPostgresAuditStore } from './postgres-store.ts';
import { auditStorePath, openSqliteAuditStore } from './sqlite-store.ts';
import type { AuditStore } from './store.ts';

/** Options of {@link openAuditStore}, as the CLI's configuration gives them. */
export interface OpenAuditStoreOptions {
  /** `DATA_DIR`: the SQLite store lives at `${dataDir}/audit.sqlite3` when there is no `databaseUrl`. */
  readonly dataDir: string;
  /** `DATABASE_URL`: selects the PostgreSQL store. */
  readonly databaseUrl?: string;
  /**
   * `AUDIT_SIGNING_KEY` (text, parsed here) or a parsed key: digests are appended at each run's end
   * and by the worker's periodic timer. Without one, no digests.
   */
  readonly signingKey?: string | DigestKey;
  /** PostgreSQL schema. @default 'runbook_audit' */
  readonly schema?: string;
  /** PostgreSQL connections per process. @default 4 */
  readonly poolSize?: number;
}

/**
 * Opens the audit store the configuration names: PostgreSQL when `databaseUrl` is set, else SQLite
 * in `dataDir`.
 *
 * @throws AuditStoreError `audit_config_invalid` (bad key or URL), `audit_store_unavailable` (retryable).
 */
export async function openAuditStore(options: OpenAuditStoreOptions): Promise<AuditStore> {
  const signingKey = typeof options.signingKey === 'string' ? parseDigestKey(options.signingKey) : options.signingKey;
  const keyOption = signingKey ? { signingKey } : {};
  if (options.databaseUrl) {
    return openPostgresAuditStore({
      databaseUrl: options.databaseUrl,
      ...(options.schema ? { schema: options.schema } : {}),
      ...(options.poolSize ? { poolSize: options.poolSize } : {}),
      ...keyOption,
    });
  }
  return openSqliteAuditStore({ path: auditStorePath(options.dataDir), ...keyOption });
}

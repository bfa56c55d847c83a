import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { canonicalJson } from './canonical-json.ts';
import { DIGEST_TYPE, type DigestKey } from './digest.ts';
import { AuditStoreError } from './errors.ts';
import { RECORD_COLUMNS, type SqlQuery } from './query.ts';
import { migrateAuditSchema, recordToRow, type AuditRow } from './sqlite-schema.ts';
import type { AuditStore } from './store.ts';
import { createAuditStore, type AuditDriver, type LockedHead } from './store-core.ts';

/** Options of {@link openSqliteAuditStore}. */
export interface SqliteAuditStoreOptions {
  /**
   * Database file, usually {@link auditStorePath}; its directory is created if missing.
   * `':memory:'` gives a private in-memory store (single connection, no WAL), for tests.
   */
  readonly path: string;
  /**
   * How long an append waits for another connection's write lock before it fails with a retryable
   * `audit_store_unavailable`. better-sqlite3 is synchronous, so the wait blocks this process's
   * event loop; appends hold the lock for about a millisecond, so real waits are short.
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
  /** Signs digests (see `digest.ts`); without one no digest is appended. */
  readonly signingKey?: DigestKey;
  /** Clock for digest times. @default Date.now */
  readonly now?: () => number;
}

/** Where the SQLite audit store lives inside `DATA_DIR` (DESIGN.md §5): `${dataDir}/audit.sqlite3`. */
export function auditStorePath(dataDir: string): string {
  if (dataDir === '') return 'audit.sqlite3';
  return dataDir.endsWith('/') ? `${dataDir}audit.sqlite3` : `${dataDir}/audit.sqlite3`;
}

/**
 * Opens (creating if needed) the SQLite audit store. Safe for several processes on one host (web
 * and worker) appending to the same file: WAL lets readers run beside the writer, and every append
 * is one `BEGIN IMMEDIATE` transaction, which takes the database's write lock before reading the
 * chain head, so seq/prevHash assignment is serialised across processes and the chain cannot fork.
 *
 * `synchronous = FULL`: in WAL mode, NORMAL survives a process crash but may lose the last commits
 * on power loss or an OS crash. This log is write-ahead: once `append` resolves the engine
 * dispatches the side effect and marks its outbox drained, so a lost record would be an effect
 * nobody can audit. FULL fsyncs the WAL on each commit, which is the price of that promise.
 *
 * @throws AuditStoreError `audit_config_invalid` for bad options, `audit_store_unavailable`
 *   (retryable) when the file cannot be opened,
 *   `audit_store_corrupt` when it is not a database or has a newer schema.
 */
export function openSqliteAuditStore(options: SqliteAuditStoreOptions): AuditStore {
  const { path, busyTimeoutMs } = compileOptions(options);
  const { signingKey, now } = options;
  const db = guard('open', path, () => openDatabase(path, busyTimeoutMs));
  try {
    return createAuditStore(createSqliteDriver(db, path), { ...(signingKey ? { signingKey } : {}), ...(now ? { now } : {}) });
  } catch (error) {
    db.close();
    throw error;
  }
}

function compileOptions(options: SqliteAuditStoreOptions): { path: string; busyTimeoutMs: number } {
  const { path, busyTimeoutMs = 5000 } = options;
  if (typeof path !== 'string' || path.length === 0) {
    throw new AuditStoreError('audit_config_invalid', `openSqliteAuditStore: expected options.path, a file path or ':memory:', received ${JSON.stringify(path)}`);
  }
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new AuditStoreError('audit_config_invalid', `openSqliteAuditStore: expected options.busyTimeoutMs to be a non-negative integer, received ${String(busyTimeoutMs)}`);
  }
  return { path, busyTimeoutMs };
}

function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // WAL is persistent in the file; only the first opener switches it (switching needs a lock).
    if (path !== ':memory:' && db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    migrateAuditSchema(db, path);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function createSqliteDriver(db: Database.Database, path: string): AuditDriver {
  const statements = {
    head: db.prepare<[], LockedHead>('SELECT seq, hash, type FROM audit_records ORDER BY seq DESC LIMIT 1'),
    byId: db.prepare<[string], AuditRow>(`SELECT ${RECORD_COLUMNS} FROM audit_records WHERE id = ?`),
    insert: db.prepare<[AuditRow]>(`INSERT INTO audit_records
      (seq, id, at, run_id, incident_id, actor, type, data, runbook_id, runbook_hash, prev_hash, hash)
      VALUES (@seq, @id, @at, @run_id, @incident_id, @actor, @type, @data, @runbook_id, @runbook_hash, @prev_hash, @hash)`),
    insertDigest: db.prepare<[number, string, string]>('INSERT INTO audit_digests (seq, id, hash) VALUES (?, ?, ?)'),
  };
  const cached = new Map<string, Database.Statement<unknown[], unknown>>();
  const prepare = (sql: string) => {
    let statement = cached.get(sql);
    if (statement === undefined) {
      statement = db.prepare<unknown[], unknown>(sql);
      if (cached.size > 200) cached.clear();
      cached.set(sql, statement);
    }
    return statement;
  };

  return {
    name: path,
    tables: { records: 'audit_records', digests: 'audit_digests' },
    statusOf: (column) => `json_extract(${column}, '$.status')`,
    async select<Row>(operation: string, query: SqlQuery) {
      return guard(operation, path, () => prepare(query.sql).all(...query.params) as Row[]);
    },
    async appendLocked(ids, plan) {
      const locked = db.transaction(() => {
        const existing = new Map<string, AuditRow>();
        for (const id of ids) {
          const row = statements.byId.get(id);
          if (row !== undefined) existing.set(id, row);
        }
        const { inserts, value } = plan(statements.head.get(), existing);
        for (const record of inserts) {
          statements.insert.run(recordToRow(record, canonicalJson(record.data)));
          if (record.type === DIGEST_TYPE) statements.insertDigest.run(record.seq, record.id, record.hash);
        }
        return value;
      });
      // .immediate(): BEGIN IMMEDIATE takes the write lock before the head is read (see above).
      return guard('append', path, () => locked.immediate());
    },
    async close() {
      guard('close', path, () => db.close());
    },
  };
}

/** Runs `body`, turning SQLite and file-system failures into coded {@link AuditStoreError}s. */
function guard<T>(operation: string, path: string, body: () => T): T {
  try {
    return body();
  } catch (error) {
    throw toAuditStoreError(error, operation, path);
  }
}

function toAuditStoreError(error: unknown, operation: string, path: string): unknown {
  if (error instanceof AuditStoreError) return error;
  if (error instanceof Database.SqliteError) {
    const isCorrupt = error.code.startsWith('SQLITE_CORRUPT') || error.code === 'SQLITE_NOTADB';
    return new AuditStoreError(isCorrupt ? 'audit_store_corrupt' : 'audit_store_unavailable',
      `audit ${operation} failed on ${path}: ${error.message} (${error.code})`, { cause: error });
  }
  const systemCode = (error as { code?: unknown } | null)?.code;
  if (typeof systemCode === 'string' && /^E[A-Z]+$/.test(systemCode)) {
    return new AuditStoreError('audit_store_unavailable', `audit ${operation} failed on ${path}: ${(error as Error).message}`, { cause: error });
  }
  return error;
}

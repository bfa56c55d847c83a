import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { canonicalJson } from './canonical-json.ts';
import { AuditStoreError } from './errors.ts';
import { prepareAuditRecords } from './prepare-records.ts';
import { GENESIS_HASH, sealAuditRecord, type AuditRecord, type AuditRecordInput } from './record.ts';
import { migrateAuditSchema, readRow, recordToRow, rowToRecord, type AuditRow } from './sqlite-schema.ts';
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, type AuditListFilter, type AuditStore } from './store.ts';
import { createChainVerifier, type VerifyResult } from './verify.ts';

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
}

/** Records read per page by `verify()`, which yields to the event loop between pages. */
const VERIFY_PAGE_SIZE = 1000;

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
  const db = guard('open', path, () => openDatabase(path, busyTimeoutMs));
  return createSqliteAuditStore(db, path);
}

function compileOptions(options: SqliteAuditStoreOptions): Required<SqliteAuditStoreOptions> {
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

function createSqliteAuditStore(db: Database.Database, path: string): AuditStore {
  const statements = {
    head: db.prepare<[], Pick<AuditRow, 'seq' | 'hash'>>('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1'),
    byId: db.prepare<[string], AuditRow>('SELECT * FROM audit_records WHERE id = ?'),
    insert: db.prepare<[AuditRow]>(`INSERT INTO audit_records
      (seq, id, at, run_id, incident_id, actor, type, data, runbook_id, runbook_hash, prev_hash, hash)
      VALUES (@seq, @id, @at, @run_id, @incident_id, @actor, @type, @data, @runbook_id, @runbook_hash, @prev_hash, @hash)`),
    page: db.prepare<[number, number], AuditRow>('SELECT * FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?'),
  };
  const listStatements = new Map<string, Database.Statement<[Record<string, string | number>], AuditRow>>();
  let isClosed = false;

  const appendBatch = db.transaction((inputs: readonly AuditRecordInput[]): AuditRecord[] => {
    let head = statements.head.get() ?? { seq: 0, hash: GENESIS_HASH };
    const appended = new Map<string, AuditRecord>();
    return inputs.map((input) => {
      const existing = appended.get(input.id) ?? readExisting(input.id);
      if (existing !== undefined) return existing;
      const record = sealAuditRecord(input, head.seq + 1, head.hash);
      statements.insert.run(recordToRow(record, canonicalJson(record.data)));
      head = { seq: record.seq, hash: record.hash };
      appended.set(record.id, record);
      return record;
    });
  });

  function readExisting(id: string): AuditRecord | undefined {
    const row = statements.byId.get(id);
    return row === undefined ? undefined : rowToRecord(row, path);
  }

  function run<T>(operation: string, body: () => T): T {
    if (isClosed) throw new AuditStoreError('audit_store_closed', `audit ${operation}: the audit store ${path} is closed`);
    return guard(operation, path, body);
  }

  function listStatement(filter: AuditListFilter) {
    const where = [
      filter.runId === undefined ? '' : 'run_id = @runId',
      filter.type === undefined ? '' : 'type = @type',
      filter.afterSeq === undefined ? '' : 'seq > @afterSeq',
    ].filter((clause) => clause !== '');
    const sql = `SELECT * FROM audit_records ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT @limit`;
    let statement = listStatements.get(sql);
    if (statement === undefined) {
      statement = db.prepare<[Record<string, string | number>], AuditRow>(sql);
      listStatements.set(sql, statement);
    }
    return statement;
  }

  return {
    async append(records) {
      const prepared = prepareAuditRecords(records);
      if (prepared.length === 0) return [];
      // .immediate(): BEGIN IMMEDIATE takes the write lock before the head is read (see above).
      return run('append', () => appendBatch.immediate(prepared));
    },

    async list(filter = {}) {
      const checked = checkListFilter(filter);
      return run('list', () => listStatement(checked).all(bindings(checked)).map((row) => rowToRecord(row, path)));
    },

    async head() {
      return run('head', () => {
        const row = statements.head.get();
        return row === undefined ? undefined : { seq: row.seq, hash: row.hash };
      });
    },

    async verify(): Promise<VerifyResult> {
      const verifier = createChainVerifier();
      let afterSeq = Number.MIN_SAFE_INTEGER;
      for (;;) {
        const rows = run('verify', () => statements.page.all(afterSeq, VERIFY_PAGE_SIZE));
        for (const row of rows) {
          if (verifier.next(readRow(row)) !== undefined) return verifier.result();
          afterSeq = row.seq;
        }
        if (rows.length < VERIFY_PAGE_SIZE) return verifier.result();
        await nextTurn(); // a long chain must not starve the event loop (Slack's 3-second ack)
      }
    },

    async close() {
      if (isClosed) return;
      isClosed = true;
      guard('close', path, () => db.close());
    },
  };
}

function checkListFilter(filter: AuditListFilter): AuditListFilter & { limit: number } {
  const problems: string[] = [];
  const { runId, type, afterSeq, limit = DEFAULT_LIST_LIMIT } = filter;
  if (runId !== undefined && typeof runId !== 'string') problems.push(`runId: expected a string, received ${typeof runId}`);
  if (type !== undefined && typeof type !== 'string') problems.push(`type: expected a string, received ${typeof type}`);
  if (afterSeq !== undefined && !Number.isSafeInteger(afterSeq)) problems.push(`afterSeq: expected an integer seq, received ${String(afterSeq)}`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    problems.push(`limit: expected an integer from 1 to ${MAX_LIST_LIMIT}, received ${String(limit)}`);
  }
  if (problems.length > 0) throw new AuditStoreError('audit_query_invalid', `audit list: ${problems.join('; ')}`);
  return { ...filter, limit };
}

function bindings(filter: AuditListFilter & { limit: number }): Record<string, string | number> {
  const { runId, type, afterSeq, limit } = filter;
  return {
    limit,
    ...(runId === undefined ? {} : { runId }),
    ...(type === undefined ? {} : { type }),
    ...(afterSeq === undefined ? {} : { afterSeq }),
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

import type Database from 'better-sqlite3';
import { AuditStoreError } from './errors.ts';
import { withoutUndefined, type AuditRecord } from './record.ts';
import type { UnreadableAuditRecord } from './verify.ts';

/** Schema version kept in `PRAGMA user_version`; bump it with a migration. */
export const SCHEMA_VERSION = 2;

/**
 * `seq` is the rowid, assigned by the store (never AUTOINCREMENT) so a gap means a deletion.
 * The triggers make accidental UPDATE/DELETE fail loudly; a deliberate tamperer can drop them,
 * which is what the hash chain is for.
 */
const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS audit_records (
  seq          INTEGER PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  at           INTEGER NOT NULL,
  run_id       TEXT,
  incident_id  TEXT,
  actor        TEXT NOT NULL,
  type         TEXT NOT NULL,
  data         TEXT NOT NULL,
  runbook_id   TEXT,
  runbook_hash TEXT,
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_records_by_run ON audit_records (run_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
`;

/**
 * Version 2: the query API's index, and the digest index: the seq and hash of every digest record
 * appended, so a chain cut back past a digest (records and digest deleted) still fails to verify.
 */
const SCHEMA_V2_SQL = `
CREATE INDEX IF NOT EXISTS audit_records_by_type ON audit_records (type, seq);
CREATE TABLE IF NOT EXISTS audit_digests (
  seq  INTEGER PRIMARY KEY,
  id   TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_digests_no_update BEFORE UPDATE ON audit_digests
  BEGIN SELECT RAISE(ABORT, 'audit_digests is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_digests_no_delete BEFORE DELETE ON audit_digests
  BEGIN SELECT RAISE(ABORT, 'audit_digests is append-only'); END;
`;

/** One row of `audit_records`, as better-sqlite3 returns it (and the PostgreSQL store, numbers converted). */
export interface AuditRow {
  readonly seq: number;
  readonly id: string;
  readonly at: number;
  readonly run_id: string | null;
  readonly incident_id: string | null;
  readonly actor: string;
  readonly type: string;
  /** Canonical JSON text. */
  readonly data: string;
  readonly runbook_id: string | null;
  readonly runbook_hash: string | null;
  readonly prev_hash: string;
  readonly hash: string;
}

/** Creates the schema, or checks an existing one, under the write lock (several processes may race here). */
export function migrateAuditSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true });
    if (version === 0 || version === 1) {
      if (version === 0) db.exec(SCHEMA_SQL);
      db.exec(SCHEMA_V2_SQL);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } else if (version !== SCHEMA_VERSION) {
      throw new AuditStoreError('audit_store_corrupt',
        `audit store ${path} has schema version ${String(version)}, expected ${SCHEMA_VERSION}: it was written by another version of runbook-bot`);
    }
  }).immediate();
}

/** The row to insert for a sealed record. */
export function recordToRow(record: AuditRecord, dataJson: string): AuditRow {
  return {
    seq: record.seq, id: record.id, at: record.at,
    run_id: record.runId ?? null, incident_id: record.incidentId ?? null,
    actor: record.actor, type: record.type, data: dataJson,
    runbook_id: record.runbookId ?? null, runbook_hash: record.runbookHash ?? null,
    prev_hash: record.prevHash, hash: record.hash,
  };
}

/** The record a row holds, or why it cannot be read (its `data` is not JSON). */
export function readRow(row: AuditRow): AuditRecord | UnreadableAuditRecord {
  let data: unknown;
  try {
    data = JSON.parse(row.data);
  } catch {
    return { seq: row.seq, unreadable: 'the data column is not valid JSON; the record was altered' };
  }
  return withoutUndefined({
    seq: row.seq, id: row.id, at: row.at,
    runId: row.run_id ?? undefined, incidentId: row.incident_id ?? undefined,
    actor: row.actor, type: row.type, data,
    runbookId: row.runbook_id ?? undefined, runbookHash: row.runbook_hash ?? undefined,
    prevHash: row.prev_hash, hash: row.hash,
  });
}

/** Like {@link readRow}, for callers that need a record: an unreadable row is corruption. */
export function rowToRecord(row: AuditRow, path: string): AuditRecord {
  const record = readRow(row);
  if ('unreadable' in record) {
    throw new AuditStoreError('audit_store_corrupt', `audit store ${path}: seq ${record.seq}: ${record.unreadable}; run \`runbook audit verify\``);
  }
  return record;
}

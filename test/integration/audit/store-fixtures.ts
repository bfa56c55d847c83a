import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditRecordInput } from '../../../src/audit/record.ts';
import { auditStorePath, openSqliteAuditStore } from '../../../src/audit/sqlite-store.ts';
import type { AuditStore } from '../../../src/audit/store.ts';

/** A fresh data directory per test, removed afterwards. */
export function createTempDataDirs() {
  const dirs: string[] = [];
  const stores: AuditStore[] = [];
  return {
    /** A new empty directory under os.tmpdir(). */
    makeDir(): string {
      const dir = mkdtempSync(join(tmpdir(), 'runbook-audit-'));
      dirs.push(dir);
      return dir;
    },
    /** Opens a store in a new directory; it is closed during cleanup. */
    openStore(): { store: AuditStore; path: string } {
      const path = auditStorePath(this.makeDir());
      const store = openSqliteAuditStore({ path });
      stores.push(store);
      return { store, path };
    },
    track(store: AuditStore): AuditStore {
      stores.push(store);
      return store;
    },
    async cleanup(): Promise<void> {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `count` valid records `${runId}.${first + i}` with a small data payload. */
export function makeRecords(count: number, runId = 'run-1', first = 1): AuditRecordInput[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${runId}.${first + i}`,
    at: 1_700_000_000_000 + first + i,
    runId,
    actor: 'system',
    type: i === 0 ? 'run.started' : 'step.succeeded',
    data: { step: `s${first + i}`, output: { rows: first + i } },
    runbookId: 'rollback',
    runbookHash: 'a'.repeat(64),
  }));
}

/**
 * Runs raw SQL against the store's file the way a tamperer with file access would: dropping the
 * append-only triggers first, since they only guard against accidents.
 */
export function tamper(path: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path);
  try {
    db.exec('DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete;');
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

/** Reads one column of one row straight from the file. */
export function rawColumn(path: string, column: string, seq: number): unknown {
  const db = new Database(path, { readonly: true });
  try {
    const row = db.prepare<[number], { value: unknown }>(`SELECT ${column} AS value FROM audit_records WHERE seq = ?`).get(seq);
    return row?.value;
  } finally {
    db.close();
  }
}

/**
 * The two audit stores behind one test interface, for the contract and tamper suites: SQLite in a
 * temp dir, PostgreSQL on 127.0.0.1:5432 in a fresh schema per store (dropped by `cleanup`).
 * `tamper` edits the database directly as an attacker with database access would: dropping the
 * append-only triggers first.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { DigestKey } from '../../../src/audit/digest.ts';
import { openPostgresAuditStore } from '../../../src/audit/postgres-store.ts';
import { auditStorePath, openSqliteAuditStore } from '../../../src/audit/sqlite-store.ts';
import type { AuditStore } from '../../../src/audit/store.ts';
import { createTempDataDirs } from './store-fixtures.ts';

/** The test database (trust auth on loopback). */
export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One opened store and how to reach its database behind its back. */
export interface OpenedStore {
  readonly store: AuditStore;
  /** Opens the same database again (another process would). */
  reopen(options?: { signingKey?: DigestKey }): Promise<AuditStore>;
  /**
   * Runs SQL with `{records}` / `{digests}` table placeholders and `?` parameters, triggers dropped.
   */
  tamper(sql: string, ...params: (string | number | null)[]): Promise<void>;
  /** The environment that points `runbook audit` at this store. */
  readonly env: Record<string, string>;
}

export interface Backend {
  readonly name: 'sqlite' | 'postgres';
  open(options?: { signingKey?: DigestKey }): Promise<OpenedStore>;
  /** Closes and removes every store opened since the last cleanup. */
  cleanup(): Promise<void>;
  /** Releases the backend itself (after all tests). */
  close(): Promise<void>;
}

export function sqliteBackend(): Backend {
  const temp = createTempDataDirs();
  return {
    name: 'sqlite',
    async open(options = {}) {
      const dataDir = temp.makeDir();
      const path = auditStorePath(dataDir);
      const store = temp.track(openSqliteAuditStore({ path, ...options }));
      return {
        store,
        reopen: async (again = {}) => temp.track(openSqliteAuditStore({ path, ...again })),
        async tamper(sql, ...params) {
          const db = new Database(path);
          try {
            for (const trigger of ['audit_records_no_update', 'audit_records_no_delete', 'audit_digests_no_update', 'audit_digests_no_delete']) db.exec(`DROP TRIGGER IF EXISTS ${trigger}`);
            for (const statement of sql.split(';').map((s) => s.trim()).filter(Boolean)) {
              const text = statement.replaceAll('{records}', 'audit_records').replaceAll('{digests}', 'audit_digests');
              const count = (text.match(/\?/g) ?? []).length;
              db.prepare(text).run(...params.splice(0, count));
            }
          } finally {
            db.close();
          }
        },
        env: { DATA_DIR: dataDir },
      };
    },
    cleanup: () => temp.cleanup(),
    close: async () => undefined,
  };
}

export function postgresBackend(): Backend {
  const schemas: string[] = [];
  const stores: AuditStore[] = [];
  const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
  return {
    name: 'postgres',
    async open(options = {}) {
      const schema = `audit_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const open = async (again: { signingKey?: DigestKey }) => {
        const store = await openPostgresAuditStore({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, ...again });
        stores.push(store);
        return store;
      };
      const store = await open(options);
      return {
        store,
        reopen: (again = {}) => open(again),
        async tamper(sql, ...params) {
          const client = await admin.connect();
          try {
            for (const table of ['audit_records', 'audit_digests']) {
              await client.query(`DROP TRIGGER IF EXISTS ${table}_append_only ON ${schema}.${table}`);
            }
            for (const statement of sql.split(';').map((s) => s.trim()).filter(Boolean)) {
              let n = 0;
              const text = statement.replaceAll('{records}', `${schema}.audit_records`).replaceAll('{digests}', `${schema}.audit_digests`).replace(/\?/g, () => `$${(n += 1)}`);
              await client.query(text, params.splice(0, n));
            }
          } finally {
            client.release();
          }
        },
        env: { DATABASE_URL: TEST_DATABASE_URL, AUDIT_DATABASE_SCHEMA: schema },
      };
    },
    async cleanup() {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      for (const schema of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
    close: () => admin.end(),
  };
}

/** Both backends, for `describe.each`. */
export function allBackends(): Backend[] {
  return [sqliteBackend(), postgresBackend()];
}

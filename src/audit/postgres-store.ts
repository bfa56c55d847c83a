/**
 * The PostgreSQL audit store (`DATABASE_URL`), for several web and worker processes on several hosts.
 *
 * Appends run in one transaction that first takes a transaction-scoped advisory lock
 * (`pg_advisory_xact_lock`, keyed by the schema) and only then reads the chain head, so every
 * appender on every host assigns seq and prevHash in turn and the chain cannot fork; the lock is
 * released by COMMIT or ROLLBACK, even when the client dies. Record ids are unique
 * (`ON CONFLICT DO NOTHING`, and the stored record is returned), so a retried outbox drain is
 * harmless. Triggers refuse UPDATE, DELETE and TRUNCATE, as the SQLite store's do: they stop
 * accidents; the hash chain and the digests catch the deliberate.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { canonicalJson } from './canonical-json.ts';
import { DIGEST_TYPE, type DigestKey } from './digest.ts';
import { AuditStoreError } from './errors.ts';
import { RECORD_COLUMNS, type SqlQuery } from './query.ts';
import type { AuditRecord } from './record.ts';
import { recordToRow, type AuditRow } from './sqlite-schema.ts';
import type { AuditStore } from './store.ts';
import { createAuditStore, type AuditDriver, type LockedHead } from './store-core.ts';

/** Options of {@link openPostgresAuditStore}. */
export interface PostgresAuditStoreOptions {
  /** `postgres://user@host:5432/db`; the password, if any, never appears in messages. */
  readonly databaseUrl: string;
  /**
   * Schema holding `audit_records` and `audit_digests`, created if missing.
   * @default 'runbook_audit'
   */
  readonly schema?: string;
  /**
   * Connections per process. Appends serialise on the advisory lock anyway; more connections help
   * concurrent reads (export, the reviewer page) run beside them.
   * @default 4
   */
  readonly poolSize?: number;
  /**
   * How long to wait for a connection before failing with a retryable `audit_store_unavailable`.
   * @default 5000
   */
  readonly connectionTimeoutMs?: number;
  /** Signs digests (see `digest.ts`); without one no digest is appended. */
  readonly signingKey?: DigestKey;
  /** Clock for digest times. @default Date.now */
  readonly now?: () => number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;
const INSERT_CHUNK = 5000;

/**
 * Connects, creates the schema if missing (under an advisory lock, since several processes may
 * start at once), and returns the store.
 *
 * @throws AuditStoreError `audit_config_invalid` (bad options, authentication, missing database),
 *   `audit_store_unavailable` (retryable: refused, reset, timed out).
 */
export async function openPostgresAuditStore(options: PostgresAuditStoreOptions): Promise<AuditStore> {
  const { databaseUrl, schema = 'runbook_audit', poolSize = 4, connectionTimeoutMs = 5000, signingKey, now } = options;
  const name = describeUrl(databaseUrl);
  if (!SCHEMA_NAME.test(schema)) throw new AuditStoreError('audit_config_invalid', `openPostgresAuditStore: expected options.schema to be a lowercase SQL identifier such as 'runbook_audit', received ${JSON.stringify(schema)}`);
  if (!Number.isSafeInteger(poolSize) || poolSize < 1 || poolSize > 100) throw new AuditStoreError('audit_config_invalid', `openPostgresAuditStore: expected options.poolSize from 1 to 100, received ${String(poolSize)}`);
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: connectionTimeoutMs,
    // seq and at are bigint; they stay below 2^53, so numbers, not strings (per pool, not pg's global parsers).
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format ?? 'text'))) as typeof pg.types.getTypeParser },
  });
  pool.on('error', () => undefined); // an idle client's connection died: the pool replaces it; the next query reports any outage
  try {
    await guard('open', name, () => createSchema(pool, schema));
    return createAuditStore(createPostgresDriver(pool, schema, name), { ...(signingKey ? { signingKey } : {}), ...(now ? { now } : {}) });
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
}

/** The SQL that creates the schema (idempotent). */
export function postgresSchemaSql(schema: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${schema}.audit_records (
  seq bigint PRIMARY KEY, id text NOT NULL UNIQUE, at bigint NOT NULL, run_id text, incident_id text,
  actor text NOT NULL, type text NOT NULL, data text NOT NULL, runbook_id text, runbook_hash text,
  prev_hash text NOT NULL, hash text NOT NULL);
CREATE INDEX IF NOT EXISTS audit_records_by_run ON ${schema}.audit_records (run_id, seq);
CREATE INDEX IF NOT EXISTS audit_records_by_type ON ${schema}.audit_records (type, seq);
CREATE TABLE IF NOT EXISTS ${schema}.audit_digests (seq bigint PRIMARY KEY, id text NOT NULL UNIQUE, hash text NOT NULL);
CREATE OR REPLACE FUNCTION ${schema}.audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
CREATE OR REPLACE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON ${schema}.audit_records
  FOR EACH ROW EXECUTE FUNCTION ${schema}.audit_refuse_change();
CREATE OR REPLACE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON ${schema}.audit_records
  FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.audit_refuse_change();
CREATE OR REPLACE TRIGGER audit_digests_append_only BEFORE UPDATE OR DELETE ON ${schema}.audit_digests
  FOR EACH ROW EXECUTE FUNCTION ${schema}.audit_refuse_change();
CREATE OR REPLACE TRIGGER audit_digests_no_truncate BEFORE TRUNCATE ON ${schema}.audit_digests
  FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.audit_refuse_change();`;
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  await withTransaction(pool, lockKey(`schema:${schema}`), async (client) => {
    const exists = await client.query<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [`${schema}.audit_digests`]);
    if (!exists.rows[0]?.ok) await client.query(postgresSchemaSql(schema));
  });
}

function createPostgresDriver(pool: pg.Pool, schema: string, name: string): AuditDriver {
  const records = `${schema}.audit_records`;
  const digests = `${schema}.audit_digests`;
  const appendLock = lockKey(`append:${schema}`);
  return {
    name,
    tables: { records, digests },
    statusOf: (column) => `(${column}::jsonb ->> 'status')`,
    async select<Row>(operation: string, query: SqlQuery) {
      return guard(operation, name, async () => (await pool.query(numberPlaceholders(query.sql), [...query.params])).rows as Row[]);
    },
    async appendLocked(ids, plan) {
      return guard('append', name, () => withTransaction(pool, appendLock, async (client) => {
        const head = (await client.query<LockedHead>(`SELECT seq, hash, type FROM ${records} ORDER BY seq DESC LIMIT 1`)).rows[0];
        const found = await client.query<AuditRow>(`SELECT ${RECORD_COLUMNS} FROM ${records} WHERE id = ANY($1::text[])`, [ids]);
        const { inserts, value } = plan(head, new Map(found.rows.map((row) => [row.id, row])));
        await insertRecords(client, records, digests, inserts);
        return value;
      }));
    },
    async close() {
      await pool.end();
    },
  };
}

/** Inserts sealed records (and digest index rows) with one statement per chunk of arrays. */
export async function insertRecords(client: pg.ClientBase, records: string, digests: string, inserts: readonly AuditRecord[]): Promise<void> {
  for (let start = 0; start < inserts.length; start += INSERT_CHUNK) {
    const rows = inserts.slice(start, start + INSERT_CHUNK).map((record) => recordToRow(record, canonicalJson(record.data)));
    const column = <K extends keyof AuditRow>(key: K) => rows.map((row) => row[key]);
    const inserted = await client.query(`INSERT INTO ${records} (${RECORD_COLUMNS})
      SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
      ON CONFLICT (id) DO NOTHING`, [column('seq'), column('id'), column('at'), column('run_id'), column('incident_id'), column('actor'), column('type'), column('data'), column('runbook_id'), column('runbook_hash'), column('prev_hash'), column('hash')]);
    // Under the lock every id was looked up first, so a conflict means the lock was bypassed: refuse to leave a gap.
    if (inserted.rowCount !== rows.length) throw new AuditStoreError('audit_store_unavailable', `audit append: ${rows.length - (inserted.rowCount ?? 0)} record id(s) appeared outside the append lock; rolled back, retry`);
  }
  const signed = inserts.filter((record) => record.type === DIGEST_TYPE);
  if (signed.length > 0) {
    await client.query(`INSERT INTO ${digests} (seq, id, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`,
      [signed.map((r) => r.seq), signed.map((r) => r.id), signed.map((r) => r.hash)]);
  }
}

/** Runs `body` in a transaction holding the advisory lock `key`; rolls back on any error. */
export async function withTransaction<T>(pool: pg.Pool, key: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [key]);
    const value = await body(client);
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => { broken = true; });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** A stable signed 64-bit advisory lock key for `name`. */
export function lockKey(name: string): string {
  return createHash('sha256').update(`runbook-audit:${name}`).digest().readBigInt64BE(0).toString();
}

/** `?` placeholders (as query.ts writes them) to PostgreSQL's `$1, $2, …`. */
function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${(n += 1)}`);
}

/** The URL without its password, for messages. */
function describeUrl(url: string): string {
  if (typeof url !== 'string' || url.length === 0) throw new AuditStoreError('audit_config_invalid', 'openPostgresAuditStore: expected options.databaseUrl such as postgres://user@127.0.0.1:5432/db');
  try {
    const parsed = new URL(url);
    if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw new Error('protocol');
    return `${parsed.protocol}//${parsed.username ? `${parsed.username}@` : ''}${parsed.host}${parsed.pathname}`;
  } catch {
    throw new AuditStoreError('audit_config_invalid', 'DATABASE_URL: expected a URL such as postgres://user@127.0.0.1:5432/db (value not shown)');
  }
}

const RETRYABLE_SQLSTATE = /^(08|53|57P0|40001|40P01|55P03|57014)/;
const CONFIG_SQLSTATE = /^(28|3D000|42501|3F000)/;
const NETWORK_CODE = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/;

/** Runs `body`, turning pg and network failures into coded {@link AuditStoreError}s. */
async function guard<T>(operation: string, name: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toAuditStoreError(error, operation, name);
  }
}

function toAuditStoreError(error: unknown, operation: string, name: string): unknown {
  if (error instanceof AuditStoreError || !(error instanceof Error)) return error;
  const code = String((error as { code?: unknown }).code ?? '');
  const where = `audit ${operation} failed on ${name}`;
  if (NETWORK_CODE.test(code) || RETRYABLE_SQLSTATE.test(code) || /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(error.message)) {
    return new AuditStoreError('audit_store_unavailable', `${where}: ${error.message}${code ? ` (${code})` : ''}; retry later`, { cause: error });
  }
  if (CONFIG_SQLSTATE.test(code)) {
    return new AuditStoreError('audit_config_invalid', `${where}: ${error.message} (${code}); check DATABASE_URL and the role's privileges`, { cause: error });
  }
  return new AuditStoreError('audit_store_corrupt', `${where}: ${error.message}${code ? ` (${code})` : ''}; an operator must look (run \`runbook audit verify\`)`, { cause: error });
}

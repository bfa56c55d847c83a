/**
 * The part of an audit store that does not depend on the database: sealing a batch under the
 * write lock (with the run-end digest), the query API, streaming and verification. SQLite and
 * PostgreSQL supply a small {@link AuditDriver}; so both behave the same by construction.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DIGEST_TYPE, digestRecordInput, type DigestKey } from './digest.ts';
import { AuditStoreError } from './errors.ts';
import { prepareAuditRecords } from './prepare-records.ts';
import { checkListFilter, checkRunFilter, listQuery, RECORD_COLUMNS, runRowToSummary, runsQuery, type RunRow, type SqlQuery } from './query.ts';
import { GENESIS_HASH, sealAuditRecord, type AuditRecord, type AuditRecordInput } from './record.ts';
import { readRow, rowToRecord, type AuditRow } from './sqlite-schema.ts';
import type { AuditListFilter, AuditStore } from './store.ts';
import { createChainVerifier, type VerifyResult } from './verify.ts';

/** Records read per page by `stream()` and `verify()`, which yield to the event loop between pages. */
export const PAGE_SIZE = 1000;

/** The chain head as the write lock sees it. */
export interface LockedHead {
  readonly seq: number;
  readonly hash: string;
  readonly type: string;
}

/** What a locked append decided: rows to insert (in seq order) and what to answer. */
export interface AppendPlan<T> {
  readonly inserts: readonly AuditRecord[];
  readonly value: T;
}

/** The database-specific part of an audit store. Every method maps its errors to `AuditStoreError`. */
export interface AuditDriver {
  /** For messages: the file path or the URL without credentials. */
  readonly name: string;
  /** Table names, schema-qualified where needed. */
  readonly tables: { readonly records: string; readonly digests: string };
  /** SQL for a run's final status read from the `run.finished` record's data column. */
  statusOf(dataColumn: string): string;
  /** Runs a query; seq/at columns come back as numbers. */
  select<Row>(operation: string, query: SqlQuery): Promise<Row[]>;
  /**
   * Under the cross-process write lock: reads the head and the stored rows with these ids, calls
   * `plan`, inserts its records (digest records also into the digest index), commits.
   */
  appendLocked<T>(ids: readonly string[], plan: (head: LockedHead | undefined, existing: ReadonlyMap<string, AuditRow>) => AppendPlan<T>): Promise<T>;
  close(): Promise<void>;
}

/** Options of {@link createAuditStore}. */
export interface AuditStoreCoreOptions {
  /** Signs digests; without one no digest is appended. */
  readonly signingKey?: DigestKey;
  /** Clock for digest times. @default Date.now */
  readonly now?: () => number;
}

/** An {@link AuditStore} over a driver. */
export function createAuditStore(driver: AuditDriver, options: AuditStoreCoreOptions = {}): AuditStore {
  const { signingKey, now = Date.now } = options;
  if (signingKey && !signingKey.canSign) {
    throw new AuditStoreError('audit_config_invalid', 'AUDIT_SIGNING_KEY: an ed25519-public key can only verify; the store needs the private key (ed25519:…) or an HMAC secret');
  }
  let isClosed = false;
  const { records: table, digests: digestTable } = driver.tables;
  const open = (operation: string) => {
    if (isClosed) throw new AuditStoreError('audit_store_closed', `audit ${operation}: the audit store ${driver.name} is closed`);
  };
  const toRecord = (row: AuditRow) => rowToRecord(row, driver.name);

  async function* pages(operation: string, filter: AuditListFilter): AsyncGenerator<AuditRecord> {
    let remaining = filter.limit ?? Number.POSITIVE_INFINITY;
    let afterSeq = filter.afterSeq;
    while (remaining > 0) {
      open(operation);
      const size = Math.min(PAGE_SIZE, remaining);
      const rows = await driver.select<AuditRow>(operation, listQuery(table, { ...filter, ...(afterSeq === undefined ? {} : { afterSeq }) }, size));
      for (const row of rows) yield toRecord(row);
      if (rows.length < size) return;
      remaining -= rows.length;
      afterSeq = rows[rows.length - 1]?.seq;
      await nextTurn();
    }
  }

  return {
    async append(records) {
      const prepared = prepareAuditRecords(records);
      if (prepared.length === 0) return [];
      open('append');
      const digestIds = prepared.filter((r) => r.type === 'run.finished').map((r) => `${r.id}.digest`);
      return driver.appendLocked([...prepared.map((r) => r.id), ...digestIds], (head, existing) => {
        const sealed = sealBatch(prepared, head, existing, driver.name);
        const finished = sealed.inserts.filter((r) => r.type === 'run.finished').at(-1);
        const last = sealed.inserts.at(-1);
        if (!signingKey || !finished || !last || existing.has(`${finished.id}.digest`)) return { inserts: sealed.inserts, value: sealed.results };
        const digest = sealDigest(signingKey, last, { id: `${finished.id}.digest`, at: now(), reason: 'run.finished' });
        return { inserts: [...sealed.inserts, digest], value: sealed.results };
      });
    },

    async appendDigest({ id, at = now(), reason = 'periodic' }) {
      if (!signingKey) return undefined;
      prepareAuditRecords([{ id, at, actor: 'system', type: DIGEST_TYPE, data: null }]);
      open('appendDigest');
      return driver.appendLocked([id], (head, existing) => {
        const stored = existing.get(id);
        if (stored) return { inserts: [], value: toRecord(stored) };
        if (!head || head.type === DIGEST_TYPE) return { inserts: [], value: undefined };
        const digest = sealDigest(signingKey, head, { id, at, reason });
        return { inserts: [digest], value: digest };
      });
    },

    async list(filter = {}) {
      const checked = checkListFilter(filter, 'list');
      open('list');
      const rows = await driver.select<AuditRow>('list', listQuery(table, checked, checked.limit ?? PAGE_SIZE));
      return rows.map(toRecord);
    },

    stream(filter = {}) {
      const checked = checkListFilter(filter, 'stream');
      return pages('stream', checked);
    },

    async runs(filter = {}) {
      const checked = checkRunFilter(filter);
      open('runs');
      const rows = await driver.select<RunRow>('runs', runsQuery(table, checked, (column) => driver.statusOf(column)));
      return rows.map(runRowToSummary);
    },

    async get(seq) {
      if (!Number.isSafeInteger(seq)) throw new AuditStoreError('audit_query_invalid', `audit get: expected an integer seq, received ${String(seq)}`);
      open('get');
      const [row] = await driver.select<AuditRow>('get', { sql: `SELECT ${RECORD_COLUMNS} FROM ${table} WHERE seq = ?`, params: [seq] });
      return row === undefined ? undefined : toRecord(row);
    },

    async head() {
      open('head');
      const [row] = await driver.select<AuditRow>('head', { sql: `SELECT seq, hash FROM ${table} ORDER BY seq DESC LIMIT 1`, params: [] });
      return row === undefined ? undefined : { seq: row.seq, hash: row.hash };
    },

    async verify(verifyOptions = {}): Promise<VerifyResult> {
      open('verify');
      const key = verifyOptions.key ?? signingKey;
      const anchorRows = await driver.select<{ seq: number; hash: string }>('verify', { sql: `SELECT seq, hash FROM ${digestTable} ORDER BY seq`, params: [] });
      const verifier = createChainVerifier({ ...(key ? { key } : {}), anchors: new Map(anchorRows.map((row) => [row.seq, row.hash])) });
      let afterSeq = Number.MIN_SAFE_INTEGER;
      for (;;) {
        open('verify');
        const rows = await driver.select<AuditRow>('verify', { sql: `SELECT ${RECORD_COLUMNS} FROM ${table} WHERE seq > ? ORDER BY seq LIMIT ?`, params: [afterSeq, PAGE_SIZE] });
        for (const row of rows) {
          if (verifier.next(readRow(row)) !== undefined) return verifier.result();
          afterSeq = row.seq;
        }
        if (rows.length < PAGE_SIZE) return verifier.result();
        await nextTurn(); // a long chain must not starve the event loop (Slack's 3-second ack)
      }
    },

    async close() {
      if (isClosed) return;
      isClosed = true;
      await driver.close();
    },
  };
}

/** Seals the new records of a batch after `head`; ids already stored (or repeated) answer with the stored record. */
export function sealBatch(inputs: readonly AuditRecordInput[], head: LockedHead | undefined, existing: ReadonlyMap<string, AuditRow>, name: string): { inserts: AuditRecord[]; results: AuditRecord[] } {
  let seq = head?.seq ?? 0;
  let hash = head?.hash ?? GENESIS_HASH;
  const appended = new Map<string, AuditRecord>();
  const inserts: AuditRecord[] = [];
  const results = inputs.map((input) => {
    const stored = existing.get(input.id);
    if (stored !== undefined) return rowToRecord(stored, name);
    const repeated = appended.get(input.id);
    if (repeated !== undefined) return repeated;
    const record = sealAuditRecord(input, seq + 1, hash);
    seq = record.seq;
    hash = record.hash;
    appended.set(record.id, record);
    inserts.push(record);
    return record;
  });
  return { inserts, results };
}

function sealDigest(key: DigestKey, head: { seq: number; hash: string }, options: { id: string; at: number; reason: string }): AuditRecord {
  const [input] = prepareAuditRecords([digestRecordInput(key, head, options)]);
  return sealAuditRecord(input!, head.seq + 1, head.hash);
}

/**
 * Filters of the audit query API, checked once and turned into SQL that SQLite and PostgreSQL both
 * run (`?` placeholders; the PostgreSQL store numbers them), so both stores answer alike.
 */
import { AuditStoreError } from './errors.ts';
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, type AuditListFilter, type AuditRunFilter, type AuditRunSummary } from './store.ts';

/** SQL text with `?` placeholders and their values, in order. */
export interface SqlQuery {
  readonly sql: string;
  readonly params: readonly (string | number)[];
}

/** The columns of a record row, in table order. */
export const RECORD_COLUMNS = 'seq, id, at, run_id, incident_id, actor, type, data, runbook_id, runbook_hash, prev_hash, hash';

const TYPE_FILTER = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*(?:\.|\.\*)?$/;
const TEXT_FIELDS = ['runId', 'incidentId', 'runbookId', 'actor'] as const;
const COLUMN: Readonly<Record<(typeof TEXT_FIELDS)[number], string>> = { runId: 'run_id', incidentId: 'incident_id', runbookId: 'runbook_id', actor: 'actor' };

/**
 * Checks a record filter. `limit` is required to be 1..{@link MAX_LIST_LIMIT} for `list`; for
 * `stream` (`unbounded`) any positive integer or none.
 *
 * @throws AuditStoreError `audit_query_invalid`, listing every problem.
 */
export function checkListFilter(filter: AuditListFilter, operation: 'list' | 'stream'): AuditListFilter {
  if (typeof filter !== 'object' || filter === null) throw new AuditStoreError('audit_query_invalid', `audit ${operation}: expected a filter object`);
  const problems: string[] = [];
  for (const field of TEXT_FIELDS) {
    const value = filter[field];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) problems.push(`${field}: expected a non-empty string, received ${describe(value)}`);
  }
  if (filter.type !== undefined && (typeof filter.type !== 'string' || !TYPE_FILTER.test(filter.type))) {
    problems.push(`type: expected an event type such as 'approval.granted', or a prefix such as 'approval.' or 'approval.*', received ${describe(filter.type)}`);
  }
  checkTimes(filter, problems);
  if (filter.afterSeq !== undefined && !Number.isSafeInteger(filter.afterSeq)) problems.push(`afterSeq: expected an integer seq, received ${describe(filter.afterSeq)}`);
  const limit = filter.limit ?? (operation === 'list' ? DEFAULT_LIST_LIMIT : undefined);
  const maxLimit = operation === 'list' ? MAX_LIST_LIMIT : Number.MAX_SAFE_INTEGER;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1 || limit > maxLimit)) {
    problems.push(`limit: expected an integer from 1 to ${maxLimit}, received ${describe(limit)}`);
  }
  if (problems.length > 0) throw new AuditStoreError('audit_query_invalid', `audit ${operation}: ${problems.join('; ')}`);
  return limit === undefined ? filter : { ...filter, limit };
}

/** The page of records after `afterSeq` matching `filter`, ascending. */
export function listQuery(table: string, filter: AuditListFilter, limit: number): SqlQuery {
  const where: string[] = [];
  const params: (string | number)[] = [];
  for (const field of TEXT_FIELDS) {
    const value = filter[field];
    if (value !== undefined) {
      where.push(`${COLUMN[field]} = ?`);
      params.push(value);
    }
  }
  if (filter.type !== undefined) {
    const prefix = filter.type.endsWith('.*') ? filter.type.slice(0, -1) : filter.type;
    if (prefix.endsWith('.')) {
      // substr, not LIKE: `_` in a type is a LIKE wildcard.
      where.push('substr(type, 1, ?) = ?');
      params.push(prefix.length, prefix);
    } else {
      where.push('type = ?');
      params.push(prefix);
    }
  }
  if (filter.fromAt !== undefined) { where.push('at >= ?'); params.push(filter.fromAt); }
  if (filter.toAt !== undefined) { where.push('at <= ?'); params.push(filter.toAt); }
  if (filter.afterSeq !== undefined) { where.push('seq > ?'); params.push(filter.afterSeq); }
  params.push(limit);
  return { sql: `SELECT ${RECORD_COLUMNS} FROM ${table}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`, params };
}

/** Checks a run filter. @throws AuditStoreError `audit_query_invalid` */
export function checkRunFilter(filter: AuditRunFilter): AuditRunFilter & { limit: number } {
  if (typeof filter !== 'object' || filter === null) throw new AuditStoreError('audit_query_invalid', 'audit runs: expected a filter object');
  const problems: string[] = [];
  for (const field of ['runbookId', 'incidentId', 'requester', 'status'] as const) {
    const value = filter[field];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) problems.push(`${field}: expected a non-empty string, received ${describe(value)}`);
  }
  checkTimes(filter, problems);
  if (filter.beforeSeq !== undefined && !Number.isSafeInteger(filter.beforeSeq)) problems.push(`beforeSeq: expected an integer seq, received ${describe(filter.beforeSeq)}`);
  const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) problems.push(`limit: expected an integer from 1 to ${MAX_LIST_LIMIT}, received ${describe(limit)}`);
  if (problems.length > 0) throw new AuditStoreError('audit_query_invalid', `audit runs: ${problems.join('; ')}`);
  return { ...filter, limit };
}

/** One row per `run.started` record, joined with the run's `run.finished` record, newest first. */
export function runsQuery(table: string, filter: AuditRunFilter & { limit: number }, statusOf: (dataColumn: string) => string): SqlQuery {
  const where = ["s.type = 'run.started'", 's.run_id IS NOT NULL'];
  const params: (string | number)[] = [];
  const add = (clause: string, value: string | number) => { where.push(clause); params.push(value); };
  if (filter.runbookId !== undefined) add('s.runbook_id = ?', filter.runbookId);
  if (filter.incidentId !== undefined) add('s.incident_id = ?', filter.incidentId);
  if (filter.requester !== undefined) add('s.actor = ?', filter.requester);
  if (filter.fromAt !== undefined) add('s.at >= ?', filter.fromAt);
  if (filter.toAt !== undefined) add('s.at <= ?', filter.toAt);
  if (filter.beforeSeq !== undefined) add('s.seq < ?', filter.beforeSeq);
  if (filter.status === 'active') where.push('f.seq IS NULL');
  else if (filter.status !== undefined) add(`${statusOf('f.data')} = ?`, filter.status);
  params.push(filter.limit);
  return {
    sql: `SELECT s.seq AS start_seq, s.run_id, s.runbook_id, s.runbook_hash, s.incident_id, s.actor AS requester, s.at AS started_at,
      f.at AS finished_at, ${statusOf('f.data')} AS final_status
      FROM ${table} s LEFT JOIN ${table} f ON f.run_id = s.run_id AND f.type = 'run.finished'
      WHERE ${where.join(' AND ')} ORDER BY s.seq DESC LIMIT ?`,
    params,
  };
}

/** A row of {@link runsQuery} (numbers may arrive as strings from PostgreSQL's bigint). */
export interface RunRow {
  readonly start_seq: number | string;
  readonly run_id: string;
  readonly runbook_id: string | null;
  readonly runbook_hash: string | null;
  readonly incident_id: string | null;
  readonly requester: string;
  readonly started_at: number | string;
  readonly finished_at: number | string | null;
  readonly final_status: string | null;
}

/** The summary a run row describes. */
export function runRowToSummary(row: RunRow): AuditRunSummary {
  return {
    runId: row.run_id,
    ...(row.runbook_id === null ? {} : { runbookId: row.runbook_id }),
    ...(row.runbook_hash === null ? {} : { runbookHash: row.runbook_hash }),
    ...(row.incident_id === null ? {} : { incidentId: row.incident_id }),
    requester: row.requester,
    startSeq: Number(row.start_seq),
    startedAt: Number(row.started_at),
    ...(row.finished_at === null ? {} : { finishedAt: Number(row.finished_at) }),
    status: row.finished_at === null ? 'active' : (row.final_status ?? 'finished'),
  };
}

function checkTimes(filter: { fromAt?: number; toAt?: number }, problems: string[]): void {
  for (const field of ['fromAt', 'toAt'] as const) {
    const value = filter[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) problems.push(`${field}: expected epoch milliseconds, received ${describe(value)}`);
  }
  if (filter.fromAt !== undefined && filter.toAt !== undefined && filter.fromAt > filter.toAt) problems.push(`fromAt ${filter.fromAt} is after toAt ${filter.toAt}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (typeof value === 'number') return String(value);
  return value === null ? 'null' : typeof value;
}

/**
 * `runbook audit list|show|export|verify|keygen`: the reviewer's view of the audit log. Opens only
 * the audit store (DATABASE_URL, else SQLite in DATA_DIR): no Redis needed.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  generateDigestKeys, isAuditStoreError, openAuditStore, parseDigestKey, type AuditListFilter, type AuditRecord, type AuditStore, type DigestKey,
} from '../../audit/index.ts';
import { parseDuration } from '../../machines/durations.ts';
import { auditConfigFromEnv } from '../audit-config.ts';
import { CliError } from '../cli-error.ts';
import type { CliIo } from '../io.ts';
import { csvHeader, csvRow, formatRecordLine, formatRunLine, formatTimeline, formatVerify, markdownHeader, markdownRow } from './audit-format.ts';

const FILTER_OPTIONS = {
  run: { type: 'string' }, incident: { type: 'string' }, runbook: { type: 'string' }, actor: { type: 'string' }, type: { type: 'string' },
  since: { type: 'string' }, until: { type: 'string' },
} as const;

const USAGE = 'audit list|show <run>|export --format jsonl|csv|md|verify|keygen';
/** Lines buffered before one write to stdout while exporting. */
const EXPORT_FLUSH_LINES = 500;

/** Runs `runbook audit <subcommand>`; returns the exit code. */
export async function auditCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list': return listRecords(rest, io);
    case 'show': return showRun(rest, io);
    case 'export': return exportRecords(rest, io);
    case 'verify': return verifyChain(rest, io);
    case 'keygen': return keygen(rest, io);
    default: throw new CliError('usage', `expected a subcommand: runbook ${USAGE}; got ${JSON.stringify(sub ?? '')}`);
  }
}

async function listRecords(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], allowPositionals: false, options: { ...FILTER_OPTIONS, limit: { type: 'string', default: '100' }, format: { type: 'string', default: 'text' }, runs: { type: 'boolean', default: false } } });
  const format = oneOf('--format', values.format, ['text', 'json'] as const);
  const limit = wholeNumber('--limit', values.limit, 10_000);
  const filter = filterFrom(values);
  return withStore(io, async (store) => {
    if (values.runs) {
      const runs = await store.runs({ limit, ...pick(filter, ['runbookId', 'incidentId', 'fromAt', 'toAt']), ...(filter.actor ? { requester: filter.actor } : {}) });
      io.stdout(format === 'json' ? `${JSON.stringify(runs, null, 2)}\n` : runs.map(formatRunLine).join('') || 'no runs match\n');
      return 0;
    }
    const records = await store.list({ ...filter, limit });
    io.stdout(format === 'json' ? `${JSON.stringify(records, null, 2)}\n` : records.map(formatRecordLine).join('') || 'no records match\n');
    return 0;
  });
}

async function showRun(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { format: { type: 'string', default: 'text' } } });
  const format = oneOf('--format', values.format, ['text', 'json'] as const);
  if (positionals.length !== 1 || !positionals[0]) throw new CliError('usage', 'expected exactly one run id: runbook audit show <run>');
  const runId = positionals[0];
  return withStore(io, async (store) => {
    const records: AuditRecord[] = [];
    for await (const record of store.stream({ runId })) records.push(record);
    if (records.length === 0) throw new CliError('audit_run_not_found', `no audit records for run ${JSON.stringify(runId)}; list runs with \`runbook audit list --runs\``, 1);
    io.stdout(format === 'json' ? `${JSON.stringify(records, null, 2)}\n` : formatTimeline(runId, records));
    return 0;
  });
}

async function exportRecords(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], allowPositionals: false, options: { ...FILTER_OPTIONS, format: { type: 'string', default: 'jsonl' }, limit: { type: 'string' } } });
  const format = oneOf('--format', values.format, ['jsonl', 'csv', 'md'] as const);
  const filter = { ...filterFrom(values), ...(values.limit === undefined ? {} : { limit: wholeNumber('--limit', values.limit, Number.MAX_SAFE_INTEGER) }) };
  const [header, row] = {
    jsonl: ['', (record: AuditRecord) => `${JSON.stringify(record)}\n`] as const,
    csv: [csvHeader(), csvRow] as const,
    md: [`# Audit log export\n\n${markdownHeader()}`, markdownRow] as const,
  }[format];
  return withStore(io, async (store) => {
    let buffer = header;
    let lines = 0;
    for await (const record of store.stream(filter)) {
      buffer += row(record);
      lines += 1;
      if (lines % EXPORT_FLUSH_LINES === 0) {
        io.stdout(buffer);
        buffer = '';
      }
    }
    if (buffer) io.stdout(buffer);
    return 0;
  });
}

async function verifyChain(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], allowPositionals: false, options: { format: { type: 'string', default: 'text' } } });
  const format = oneOf('--format', values.format, ['text', 'json'] as const);
  const key = verifyKey(io);
  return withStore(io, async (store) => {
    const result = await store.verify(key ? { key } : {});
    if (format === 'json') io.stdout(`${JSON.stringify({ ...result, keyChecked: key !== undefined }, null, 2)}\n`);
    else io.stdout(formatVerify(result, key !== undefined));
    return result.ok ? 0 : 1;
  });
}

async function keygen(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], allowPositionals: false, options: { alg: { type: 'string', default: 'ed25519' } } });
  const alg = oneOf('--alg', values.alg, ['ed25519', 'hmac-sha256'] as const);
  const keys = generateDigestKeys(alg);
  io.stdout(`# Digest signing key (key id ${keys.keyId}). Keep it secret; give it to the web and worker processes:\nAUDIT_SIGNING_KEY=${keys.signingKey}\n`);
  if (alg === 'ed25519') io.stdout(`# Verify-only key for reviewers (runbook audit verify reads it from AUDIT_VERIFY_KEY):\nAUDIT_VERIFY_KEY=${keys.verifyKey}\n`);
  else io.stdout('# HMAC: verifying needs the same secret (AUDIT_SIGNING_KEY or AUDIT_VERIFY_KEY).\n');
  return 0;
}

/** AUDIT_VERIFY_KEY (may be public), else AUDIT_SIGNING_KEY. */
function verifyKey(io: CliIo): DigestKey | undefined {
  const { problems } = auditConfigFromEnv(io.env);
  const text = io.env['AUDIT_VERIFY_KEY']?.trim() || io.env['AUDIT_SIGNING_KEY']?.trim();
  const source = io.env['AUDIT_VERIFY_KEY']?.trim() ? 'AUDIT_VERIFY_KEY' : 'AUDIT_SIGNING_KEY';
  if (problems.length > 0 && source === 'AUDIT_SIGNING_KEY') throw new CliError('config_invalid', problems.join('\n'));
  if (!text) return undefined;
  try {
    return parseDigestKey(text, source);
  } catch (error) {
    throw new CliError('config_invalid', isAuditStoreError(error) ? error.message : `${source} is not a valid key`);
  }
}

async function withStore(io: CliIo, body: (store: AuditStore) => Promise<number>): Promise<number> {
  const { config, problems } = auditConfigFromEnv(io.env);
  if (problems.length > 0) throw new CliError('config_invalid', problems.join('\n'));
  let store: AuditStore;
  try {
    store = await openAuditStore({
      dataDir: resolve(io.cwd, io.env['DATA_DIR']?.trim() || 'var'),
      schema: config.schema,
      ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
      ...(config.signingKey ? { signingKey: config.signingKey } : {}),
    });
  } catch (error) {
    if (isAuditStoreError(error)) throw new CliError(error.code, `cannot open the audit store: ${error.message}`, 1);
    throw error;
  }
  try {
    return await body(store);
  } catch (error) {
    if (isAuditStoreError(error)) throw new CliError(error.code, error.message, error.code === 'audit_query_invalid' ? 2 : 1);
    throw error;
  } finally {
    await store.close();
  }
}

type FilterValues = Partial<Record<keyof typeof FILTER_OPTIONS, string>>;

function filterFrom(values: FilterValues): AuditListFilter {
  const now = Date.now();
  const fromAt = values.since === undefined ? undefined : parseTime('--since', values.since, now);
  const toAt = values.until === undefined ? undefined : parseTime('--until', values.until, now);
  return {
    ...(values.run ? { runId: values.run } : {}),
    ...(values.incident ? { incidentId: values.incident } : {}),
    ...(values.runbook ? { runbookId: values.runbook } : {}),
    ...(values.actor ? { actor: values.actor } : {}),
    ...(values.type ? { type: values.type } : {}),
    ...(fromAt === undefined ? {} : { fromAt }),
    ...(toAt === undefined ? {} : { toAt }),
  };
}

/** An ISO date/time, epoch milliseconds, or a duration ago (`2h`, `7d`). */
export function parseTime(flag: string, text: string, now: number): number {
  if (/^\d{12,}$/.test(text)) return Number(text);
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  const parsed = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(parsed)) throw new CliError('usage', `${flag} must be an ISO time (2024-05-01 or 2024-05-01T12:00:00Z), epoch milliseconds, or a duration ago (2h, 7d); got ${JSON.stringify(text)}`);
  return parsed;
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.filter((key) => value[key] !== undefined).map((key) => [key, value[key]])) as Pick<T, K>;
}

function wholeNumber(flag: string, text: string | undefined, max: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new CliError('usage', `${flag} must be a whole number from 1 to ${max}; got ${JSON.stringify(text)}`);
  return n;
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (value !== undefined && (allowed as readonly string[]).includes(value)) return value as T;
  throw new CliError('usage', `${flag} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

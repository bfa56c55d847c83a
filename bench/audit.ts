/**
 * Audit store figures (BENCH=audit): append throughput in engine-sized batches, verify speed, and
 * exporting a large log (time and peak RSS of a separate `runbook audit export` process), for
 * SQLite and PostgreSQL (127.0.0.1:5432, skipped when unreachable).
 *
 * BENCH_AUDIT_RECORDS (default 100000) sets the exported log's size; 1000000 is the issue's
 * target (the fill is a bulk insert of valid chained records, so it takes about a minute).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { canonicalJson } from '../src/audit/canonical-json.ts';
import { insertRecords, openPostgresAuditStore } from '../src/audit/postgres-store.ts';
import { GENESIS_HASH, sealAuditRecord, type AuditRecord, type AuditRecordInput } from '../src/audit/record.ts';
import { recordToRow } from '../src/audit/sqlite-schema.ts';
import { auditStorePath, openSqliteAuditStore } from '../src/audit/sqlite-store.ts';
import type { AuditStore } from '../src/audit/store.ts';
import type { Figure } from './stats.ts';

const DATABASE_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const EXPORT_RECORDS = Number(process.env['BENCH_AUDIT_RECORDS'] ?? 100_000);
const APPEND_BATCHES = 300;
const BATCH = 4; // an engine transition: the event plus a few effects
const ROOT = fileURLToPath(new URL('../', import.meta.url));

function input(n: number): AuditRecordInput {
  return { id: `bench.${n}`, at: 1_700_000_000_000 + n, runId: `run-${Math.floor(n / 20)}`, actor: 'system', type: 'step.succeeded', runbookId: 'rollback', runbookHash: 'a'.repeat(64), data: { stepId: `s${n % 20}`, output: { rows: n, note: 'benchmark record' } } };
}

/** Valid chained records `first..first+count-1`, sealed in memory. */
function* sealed(count: number, head: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }): Generator<AuditRecord> {
  let previous = head;
  for (let n = 1; n <= count; n += 1) {
    const record = sealAuditRecord(input(previous.seq + 1 + 1_000_000), previous.seq + 1, previous.hash);
    previous = record;
    yield record;
  }
}

async function appendAndVerify(label: string, store: AuditStore): Promise<Figure[]> {
  let n = 0;
  const started = performance.now();
  for (let batch = 0; batch < APPEND_BATCHES; batch += 1) await store.append(Array.from({ length: BATCH }, () => input((n += 1))));
  const appendS = (performance.now() - started) / 1000;
  const verifyStarted = performance.now();
  const result = await store.verify();
  const verifyS = (performance.now() - verifyStarted) / 1000;
  return [
    { name: `${label} append`, value: `${Math.round(n / appendS)} records/s`, how: `${APPEND_BATCHES} sequential appends of ${BATCH}-record batches (one transaction each${label === 'SQLite' ? ', synchronous=FULL' : ''})` },
    { name: `${label} verify`, value: `${Math.round(result.count / verifyS)} records/s`, how: `verify() over ${result.count} records (hash + link per record, 1000-record pages)` },
  ];
}

/** Runs `runbook audit export` (or verify) in its own process, output discarded; returns seconds and peak RSS. */
async function measureCli(env: Record<string, string>, args: string[]): Promise<{ seconds: number; rssMb: number; code: number | null }> {
  const script = `import { main } from './src/cli/main.ts'; let bytes = 0;
    const code = await main(${JSON.stringify(args)}, { stdout: (t) => { bytes += t.length; }, stderr: (t) => process.stderr.write(t), env: process.env, cwd: process.cwd() });
    process.stdout.write(JSON.stringify({ code, bytes, rss: process.resourceUsage().maxRSS }));`;
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const parsed = JSON.parse(out || '{}') as { rss?: number; code?: number };
  return { seconds: (performance.now() - started) / 1000, rssMb: (parsed.rss ?? 0) / 1024, code: parsed.code ?? code };
}

async function exportFigures(label: string, env: Record<string, string>): Promise<Figure[]> {
  const exported = await measureCli(env, ['audit', 'export', '--format', 'jsonl']);
  const verified = await measureCli(env, ['audit', 'verify']);
  return [
    { name: `${label} export ${EXPORT_RECORDS} (jsonl)`, value: `${exported.seconds.toFixed(1)} s, peak RSS ${exported.rssMb.toFixed(0)} MB`, how: `\`runbook audit export --format jsonl\` in a fresh process (incl. ~1 s start-up), exit ${String(exported.code)}` },
    { name: `${label} CLI verify ${EXPORT_RECORDS}`, value: `${verified.seconds.toFixed(1)} s, peak RSS ${verified.rssMb.toFixed(0)} MB`, how: `\`runbook audit verify\` in a fresh process, exit ${String(verified.code)}` },
  ];
}

async function benchSqlite(): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-bench-audit-'));
  try {
    const store = openSqliteAuditStore({ path: auditStorePath(dir) });
    const figures = await appendAndVerify('SQLite', store);
    await store.close();
    const bigDir = mkdtempSync(join(tmpdir(), 'runbook-bench-audit-big-'));
    try {
      await openSqliteAuditStore({ path: auditStorePath(bigDir) }).close();
      const db = new Database(auditStorePath(bigDir));
      const insert = db.prepare(`INSERT INTO audit_records (seq, id, at, run_id, incident_id, actor, type, data, runbook_id, runbook_hash, prev_hash, hash)
        VALUES (@seq, @id, @at, @run_id, @incident_id, @actor, @type, @data, @runbook_id, @runbook_hash, @prev_hash, @hash)`);
      db.transaction(() => { for (const record of sealed(EXPORT_RECORDS)) insert.run(recordToRow(record, canonicalJson(record.data))); })();
      db.close();
      return [...figures, ...(await exportFigures('SQLite', { DATA_DIR: bigDir }))];
    } finally {
      rmSync(bigDir, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(): Promise<Figure[]> {
  const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
  const bigSchema = `${schema}_big`;
  const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2, connectionTimeoutMillis: 2000 });
  try {
    await admin.query('SELECT 1');
  } catch {
    await admin.end();
    return [{ name: 'PostgreSQL', value: 'skipped', how: `no PostgreSQL at ${DATABASE_URL.replace(/:[^:@/]*@/, '@')}` }];
  }
  try {
    const store = await openPostgresAuditStore({ databaseUrl: DATABASE_URL, schema });
    const figures = await appendAndVerify('PostgreSQL', store);
    await store.close();
    await (await openPostgresAuditStore({ databaseUrl: DATABASE_URL, schema: bigSchema })).close();
    const client = await admin.connect();
    try {
      let chunk: AuditRecord[] = [];
      for (const record of sealed(EXPORT_RECORDS)) {
        chunk.push(record);
        if (chunk.length === 5000) { await insertRecords(client, `${bigSchema}.audit_records`, `${bigSchema}.audit_digests`, chunk); chunk = []; }
      }
      if (chunk.length > 0) await insertRecords(client, `${bigSchema}.audit_records`, `${bigSchema}.audit_digests`, chunk);
    } finally {
      client.release();
    }
    return [...figures, ...(await exportFigures('PostgreSQL', { DATABASE_URL, AUDIT_DATABASE_SCHEMA: bigSchema }))];
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${bigSchema} CASCADE`);
    await admin.end();
  }
}

/** The Audit section of `npm run bench`. */
export async function benchAudit(): Promise<Figure[]> {
  return [...(await benchSqlite()), ...(await benchPostgres())];
}

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DIGEST_TYPE, generateDigestKeys, parseDigestKey } from '../../../src/audit/digest.ts';
import { openPostgresAuditStore } from '../../../src/audit/postgres-store.ts';
import { TEST_DATABASE_URL } from './backends.ts';

const WORKER_SCRIPT = fileURLToPath(new URL('./pg-append-worker.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORKERS = 4;
const RECORDS_PER_WORKER = 200;
const SCHEMA = `audit_mp_${randomBytes(6).toString('hex')}`;
const SIGNING_KEY = generateDigestKeys('hmac-sha256').signingKey;

afterAll(async () => {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

interface Worker { readonly child: ChildProcess; readonly stderr: string[]; readonly exit: Promise<number | null> }

function startWorker(index: number): Worker {
  const args = ['--import', 'tsx', WORKER_SCRIPT, TEST_DATABASE_URL, SCHEMA, String(index), String(RECORDS_PER_WORKER), SIGNING_KEY];
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: 'pipe' });
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  return { child, stderr, exit: once(child, 'exit').then(([code]) => code as number | null) };
}

async function waitForReady(worker: Worker): Promise<void> {
  let output = '';
  for await (const chunk of worker.child.stdout!) {
    output += String(chunk);
    if (output.includes('ready')) return;
  }
  throw new Error(`worker exited before it was ready: ${worker.stderr.join('')}`);
}

describe('postgres audit store', () => {
  describe('when several processes append to the same schema at once', () => {
    it('keeps one contiguous chain holding every record and every run-end digest, and it verifies', async () => {
      const workers = Array.from({ length: WORKERS }, (_, index) => startWorker(index + 1));
      await Promise.all(workers.map(waitForReady));
      for (const worker of workers) worker.child.stdin!.end('go\n');
      const codes = await Promise.all(workers.map((worker) => worker.exit));
      expect(codes, workers.map((w) => w.stderr.join('')).join('\n')).toEqual(Array(WORKERS).fill(0));

      const store = await openPostgresAuditStore({ databaseUrl: TEST_DATABASE_URL, schema: SCHEMA, signingKey: parseDigestKey(SIGNING_KEY) });
      try {
        const records = await store.list({ limit: 10_000 });
        const digests = WORKERS * (RECORDS_PER_WORKER / 50);
        expect(records).toHaveLength(WORKERS * RECORDS_PER_WORKER + digests);
        expect(records.map((r) => r.seq)).toEqual(Array.from({ length: records.length }, (_, i) => i + 1));
        expect(records.filter((r) => r.type === DIGEST_TYPE)).toHaveLength(digests);
        for (let worker = 1; worker <= WORKERS; worker += 1) {
          const own = records.filter((r) => r.runId === `run-${worker}`).map((r) => (r.data as { n: number }).n);
          expect(own).toEqual(Array.from({ length: RECORDS_PER_WORKER }, (_, i) => i + 1));
        }
        expect(await store.verify()).toEqual({ ok: true, count: records.length, digests: { checked: digests, unchecked: 0, lastSeq: expect.any(Number) } });
      } finally {
        await store.close();
      }
    }, 120_000);
  });
});

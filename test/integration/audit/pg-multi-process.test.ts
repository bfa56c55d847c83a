import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DIGEST_TYPE, generateDigestKeys, parseDigestKey } from '../../../src/audit/digest.ts';
import { openPostgresAuditStore } from '../../../src/audit/postgres-store.ts';
import { runInLockstep } from '../../helpers/lockstep-scripts.ts';
import { TEST_DATABASE_URL } from './backends.ts';

const WORKER_SCRIPT = fileURLToPath(new URL('./pg-append-worker.ts', import.meta.url));
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

describe('postgres audit store', () => {
  describe('when several processes append to the same schema at once', () => {
    it('keeps one contiguous chain holding every record and every run-end digest, and it verifies', async () => {
      const argsPerWorker = Array.from({ length: WORKERS }, (_, index) => [TEST_DATABASE_URL, SCHEMA, String(index + 1), String(RECORDS_PER_WORKER), SIGNING_KEY]);
      const { codes, stderr } = await runInLockstep(WORKER_SCRIPT, argsPerWorker);
      expect(codes, stderr).toEqual(Array(WORKERS).fill(0));

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

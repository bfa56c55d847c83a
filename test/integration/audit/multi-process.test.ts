import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteAuditStore } from '../../../src/audit/sqlite-store.ts';
import { runInLockstep } from '../../helpers/lockstep-scripts.ts';
import { createTempDataDirs } from './store-fixtures.ts';

const WORKER_SCRIPT = fileURLToPath(new URL('./append-worker.ts', import.meta.url));
const WORKERS = 4;
const RECORDS_PER_WORKER = 200;

const temp = createTempDataDirs();
afterEach(() => temp.cleanup());

describe('sqlite audit store', () => {
  describe('when several processes append to the same file at once', () => {
    it('keeps one contiguous, verifiable chain holding every record', async () => {
      const path = `${temp.makeDir()}/audit.sqlite3`;
      const argsPerWorker = Array.from({ length: WORKERS }, (_, index) => [path, String(index + 1), String(RECORDS_PER_WORKER)]);
      const { codes, stderr } = await runInLockstep(WORKER_SCRIPT, argsPerWorker);
      expect(codes, stderr).toEqual(Array(WORKERS).fill(0));

      const store = temp.track(openSqliteAuditStore({ path }));
      const records = await store.list({ limit: 10_000 });
      expect(records).toHaveLength(WORKERS * RECORDS_PER_WORKER);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: WORKERS * RECORDS_PER_WORKER }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.id)).size).toBe(WORKERS * RECORDS_PER_WORKER);
      for (let worker = 1; worker <= WORKERS; worker += 1) {
        const own = records.filter((r) => r.runId === `run-${worker}`).map((r) => (r.data as { n: number }).n);
        expect(own).toEqual(Array.from({ length: RECORDS_PER_WORKER }, (_, i) => i + 1));
      }
      expect(await store.verify()).toEqual({ ok: true, count: WORKERS * RECORDS_PER_WORKER });
    }, 120_000);
  });
});

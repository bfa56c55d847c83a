import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteAuditStore } from '../../../src/audit/sqlite-store.ts';
import { createTempDataDirs } from './store-fixtures.ts';

const WORKER_SCRIPT = fileURLToPath(new URL('./append-worker.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORKERS = 4;
const RECORDS_PER_WORKER = 200;

const temp = createTempDataDirs();
afterEach(() => temp.cleanup());

interface Worker { readonly child: ChildProcess; readonly stderr: string[]; readonly exit: Promise<number | null> }

function startWorker(path: string, index: number): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT, path, String(index), String(RECORDS_PER_WORKER)], { cwd: PROJECT_ROOT, stdio: 'pipe' });
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

describe('sqlite audit store', () => {
  describe('when several processes append to the same file at once', () => {
    it('keeps one contiguous, verifiable chain holding every record', async () => {
      const path = `${temp.makeDir()}/audit.sqlite3`;
      const workers = Array.from({ length: WORKERS }, (_, index) => startWorker(path, index + 1));
      await Promise.all(workers.map(waitForReady));
      for (const worker of workers) worker.child.stdin!.end('go\n');
      const codes = await Promise.all(workers.map((worker) => worker.exit));
      expect(codes, workers.map((w) => w.stderr.join('')).join('\n')).toEqual(Array(WORKERS).fill(0));

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

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { openSqliteAuditStore, type AuditStore } from '../../src/audit/index.ts';
import type { Executor } from '../../src/executors/contract.ts';
import { createExecutorCatalog } from '../../src/executors/specs.ts';
import { createTestExecutors, TEST_EXECUTOR_SPECS, type TestExecutorState } from '../../src/executors/testing.ts';
import type { EngineLogger } from '../../src/engine/engine.ts';
import type { RunRecord } from '../../src/engine/run-store.ts';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/engine/runtime.ts';

export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const quietLogger: EngineLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export const testCatalog = createExecutorCatalog(TEST_EXECUTOR_SPECS);

export interface TestEngine {
  readonly runtime: Runtime;
  readonly audit: AuditStore;
  readonly prefix: string;
  readonly dataDir: string;
  readonly redis: Redis;
  readonly state: TestExecutorState;
  waitFor(runId: string, predicate: (run: RunRecord) => boolean, timeoutMs?: number): Promise<RunRecord>;
  /** Waits until the run has finished and its outbox is drained (its audit trail complete). */
  settled(runId: string, timeoutMs?: number): Promise<RunRecord>;
  close(): Promise<void>;
}

/**
 * A runtime on the machine's Redis (or `options.redisUrl`) with a fresh key prefix, a temp SQLite
 * audit store and the test executors.
 */
export async function createTestEngine(options: Partial<RuntimeOptions> & { extraExecutors?: Executor[] } = {}): Promise<TestEngine> {
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'runbook-engine-'));
  const audit = openSqliteAuditStore({ path: join(dataDir, 'audit.sqlite3') });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  const { executors, state } = createTestExecutors(redis, prefix);
  const runtime = await createRuntime({
    redisUrl,
    prefix,
    audit,
    catalog: testCatalog,
    executors: new Map([...executors, ...(options.extraExecutors ?? [])].map((e) => [e.spec.name, e])),
    logger: quietLogger,
    workers: { steps: true, timers: true, notify: true },
    reconciler: { intervalMs: 200, graceMs: 100 },
    workerSettings: { lockDurationMs: 2_000, stalledIntervalMs: 500 },
    ...options,
  });
  const engine: TestEngine = {
    runtime,
    audit,
    prefix,
    dataDir,
    redis,
    state,
    async waitFor(runId, predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = await runtime.engine.getRun(runId);
        if (run && predicate(run)) return run;
        if (Date.now() > deadline) throw new Error(`run ${runId} did not get there in ${timeoutMs} ms; last status ${run?.status}, steps ${JSON.stringify(run?.snapshot.context.steps)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async settled(runId, timeoutMs = 15_000) {
      const run = await engine.waitFor(runId, finished, timeoutMs);
      const deadline = Date.now() + timeoutMs;
      while ((await redis.llen(runtime.keys.outbox(runId))) > 0) {
        if (Date.now() > deadline) throw new Error(`the outbox of run ${runId} never drained`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return run;
    },
    async close() {
      await runtime.close();
      await audit.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return engine;
}

export const finished = (run: RunRecord) => run.status !== 'active';

/**
 * SLA timer lateness (issue 6): 1,000 runs each wait at an approval whose ladder has one rung, so
 * 1,000 escalation timers are pending as delayed BullMQ jobs at once; the real timer worker fires
 * them into the engine. Lateness = when the rung fired (the `timer.fired` event's stamp, recorded
 * on the step) − when it was due (the wait's start + the rung's `after`). Fresh key prefix on the
 * machine's Redis, every key deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditStorePath, openSqliteAuditStore } from '../src/audit/index.ts';
import { createExecutorCatalog } from '../src/executors/specs.ts';
import type { EngineLogger } from '../src/engine/engine.ts';
import { createRuntime } from '../src/engine/runtime.ts';
import { ms, summarize, type Figure } from './stats.ts';

const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const quiet: EngineLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const PENDING = Number(process.env['BENCH_SLA_TIMERS'] ?? 1_000);
/** Rung delay: long enough that every timer is scheduled before the first one is due. */
const AFTER_MS = Number(process.env['BENCH_SLA_AFTER_MS'] ?? 30_000);
const START_CONCURRENCY = 16;

const RUNBOOK = `# SLA bench

## Approve {#approve}
\`\`\`approve
message: go?
escalation:
  - after: ${AFTER_MS}ms
    notify: ["@bench"]
\`\`\`
`;

export async function benchSla(): Promise<Figure[]> {
  const prefix = `bench-sla-${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'runbook-bench-sla-'));
  const audit = openSqliteAuditStore({ path: auditStorePath(dataDir) });
  const runtime = await createRuntime({
    redisUrl: REDIS_URL, prefix, audit, catalog: createExecutorCatalog([]), executors: new Map(), logger: quiet,
    workers: { timers: true }, reconciler: false, workerSettings: { concurrency: 16 },
  });
  try {
    const ids: string[] = [];
    const scheduling = performance.now();
    for (let next = 0; next < PENDING; ) {
      const batch = Array.from({ length: Math.min(START_CONCURRENCY, PENDING - next) }, () => runtime.engine.startRun({ file: 'sla.md', source: RUNBOOK, params: {}, requester: { id: 'UBENCH' } }));
      next += batch.length;
      ids.push(...(await Promise.all(batch)).map((r) => r.id));
    }
    const scheduledMs = performance.now() - scheduling;
    const pending = await runtime.queues.timers.getDelayedCount();
    const lateness: number[] = [];
    const deadline = Date.now() + AFTER_MS + scheduledMs + 120_000;
    const left = new Set(ids);
    while (left.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      for (const id of [...left]) {
        const run = await runtime.engine.getRun(id);
        const step = run?.snapshot.context.steps['approve'];
        const fired = step?.escalations?.[0]?.at;
        if (fired === undefined || step?.startedAt === undefined) continue;
        lateness.push(fired - (step.startedAt + AFTER_MS));
        left.delete(id);
      }
    }
    const s = summarize(lateness);
    const how = `${PENDING} runs waiting at an approval with one rung (after ${AFTER_MS} ms): ${pending} delayed timer jobs pending at once; fired by one timer worker (concurrency 16); lateness = rung fired − (wait start + after)`;
    return [
      { name: 'SLA timer lateness p50', value: ms(s.p50), how },
      { name: 'SLA timer lateness p99', value: ms(s.p99), how: `same; max ${ms(s.max)}; ${left.size} never fired` },
      { name: 'SLA timers scheduled', value: `${PENDING} in ${ms(scheduledMs)}`, how: `${START_CONCURRENCY} run starts at a time, each scheduling its rung timer through the outbox` },
    ];
  } finally {
    await runtime.close();
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL);
    for (let cursor = '0'; ; ) {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = nextCursor;
      if (cursor === '0') break;
    }
    await redis.quit();
    await audit.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

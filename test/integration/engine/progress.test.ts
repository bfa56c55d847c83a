import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Executor } from '../../../src/engine/executor-contract.ts';
import { createBackfillExecutor } from '../../../src/executors/backfill.ts';
import { createBackfillPartitionWorker } from '../../../src/executors/backfill-worker.ts';
import { createHttpExecutor } from '../../../src/executors/http.ts';
import { executorCatalog } from '../../../src/executors/specs.ts';
import { createTestEngine, quietLogger, REDIS_URL, type TestEngine } from '../../helpers/engine.ts';

const RUNBOOK = `# Backfill progress

## Approve
\`\`\`approve
allow_self: true
\`\`\`

## Backfill {#backfill}
\`\`\`backfill
dataset: features.test
from: 2026-01-01
to: 2026-01-20
partition: day
parallelism: 2
call:
  executor: http
  method: POST
  url: "http://127.0.0.1:9/{{ partition }}"
timeout: 1m
undo:
  executor: http
  method: POST
  url: http://127.0.0.1:9/discard
\`\`\`
`;

describe('progress of a long call', () => {
  let t: TestEngine | undefined;
  const connections: Redis[] = [];
  afterEach(async () => {
    await t?.close();
    await Promise.all(connections.map((c) => c.quit()));
  });

  it('reaches the run while a backfill moves, and the run ends with every partition done', async () => {
    const connect = () => {
      const c = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      connections.push(c);
      return c;
    };
    // The per-partition call: slow enough to be seen in flight, no network.
    const partitionCall: Executor = { spec: createHttpExecutor().spec, run: async () => new Promise((r) => setTimeout(() => r({ ok: true }), 40)) };
    const registry = new Map<string, Executor>([['http', partitionCall]]);
    // The backfill executor needs the runtime's queue prefix, known once the runtime starts its workers.
    let backfill: ReturnType<typeof createBackfillExecutor> | undefined;
    const spec = executorCatalog.get('backfill');
    if (!spec) throw new Error('no backfill spec');
    const lateBackfill: Executor = { spec, run: (input, ctx) => (backfill as Executor).run(input, ctx) };
    t = await createTestEngine({
      extraExecutors: [partitionCall, lateBackfill],
      stepChildWorkers: async ({ keys }) => {
        backfill = createBackfillExecutor({ connection: connect(), prefix: keys.queuePrefix, executors: () => registry, progressIntervalMs: 50 });
        return [await createBackfillPartitionWorker({ connection: connect(), prefix: keys.queuePrefix, executors: () => registry, logger: quietLogger })];
      },
    });
    const run = await t.runtime.engine.startRun({ file: 'progress.md', source: RUNBOOK, params: {}, requester: { id: 'UREQ' } });
    await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'UREQ' } });
    const seen: unknown[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const progress = (await t.runtime.engine.store.progress(run.id))['backfill'] as { done?: number } | undefined;
      if (progress) seen.push(progress.done);
      if ((await t.runtime.engine.getRun(run.id))?.status !== 'active') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const done = await t.settled(run.id);
    await backfill?.close();
    expect(done.status).toBe('succeeded');
    expect(done.snapshot.context.steps['backfill']?.output).toMatchObject({ total: 20, done: 20, failed: [] });
    expect(seen.some((d) => typeof d === 'number' && d > 0 && d < 20)).toBe(true);
    expect((await t.runtime.engine.store.progress(run.id))['backfill']).toMatchObject({ kind: 'backfill', total: 20, done: 20 });
  });
});

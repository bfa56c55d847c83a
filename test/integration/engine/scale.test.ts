/**
 * Several worker processes on one queue, many runs at once (DESIGN.md §5: each process "scales
 * horizontally against one Redis"). The test process starts runs as the web process would; two
 * real `runbook worker` processes execute every step and append to the same SQLite audit file.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../../src/engine/run-store.ts';
import { createTestEngine, REDIS_URL, type TestEngine } from '../../helpers/engine.ts';
import { startWorkerProcess, stopAllProcesses, type WorkerProcess } from '../../helpers/processes.ts';
import { auditTrailProblems, recordsByRun, waitForRunsSettled } from '../../helpers/run-checks.ts';

const STEP_IDS = ['check', 'change', 'confirm'] as const;
const fence = '```';
const RUNBOOK = `---
title: Scale drill
params:
  target: { type: string, pattern: "^[a-z0-9-]+$" }
---
# Scale drill

${STEP_IDS.map((id) => `## ${id} {#${id}}
${fence}record
label: "${id} {{ params.target }}"
timeout: 60s
${fence}
`).join('\n')}`;

describe('engine with two worker processes on one queue', () => {
  let t: TestEngine;
  let workers: WorkerProcess[];
  let probe: Redis;

  beforeAll(async () => {
    probe = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    t = await createTestEngine({ workers: {}, reconciler: false });
    const env = { REDIS_URL, RUNBOOK_REDIS_PREFIX: t.prefix, DATA_DIR: t.dataDir, RUNBOOK_TEST_EXECUTORS: '1' as const };
    workers = await Promise.all([startWorkerProcess(env, { name: 'worker 1' }), startWorkerProcess(env, { name: 'worker 2' })]);
  }, 60_000);
  afterAll(async () => {
    const exits = await Promise.all((workers ?? []).map((w) => w.stop()));
    await stopAllProcesses();
    await t.close();
    expect(await probe.keys(`${t.prefix}:*`)).toEqual([]);
    await probe.quit();
    expect(exits.map((e) => e.code)).toEqual(exits.map(() => 0));
  }, 60_000);

  const startRuns = (count: number, label: string) =>
    Promise.all(Array.from({ length: count }, (_, i) => t.runtime.engine.startRun({ file: 'scale-drill.md', source: RUNBOOK, params: { target: `${label}-${i}` }, requester: { id: 'UREQ' } })));

  /** Waits until every run has finished and its outbox is drained, polling them all at once. */
  async function settledAll(runIds: readonly string[], timeoutMs: number): Promise<RunRecord[]> {
    await waitForRunsSettled(t.redis, t.runtime.keys, runIds, timeoutMs);
    const runs = await Promise.all(runIds.map((id) => t.runtime.engine.getRun(id)));
    return runs.filter((r): r is RunRecord => r !== undefined);
  }

  const keysOf = (runIds: readonly string[]) => runIds.flatMap((id) => STEP_IDS.map((step) => `${id}/${step}/do/1`)).sort();
  const keysFor = async (read: () => Promise<{ key: string }[]>, runIds: ReadonlySet<string>) =>
    (await read()).map((e) => e.key).filter((key) => runIds.has(key.split('/')[0] ?? '')).sort();
  const finishedBy = (worker: WorkerProcess, runIds: ReadonlySet<string>) =>
    worker.logs().filter((line) => line.msg === 'run finished' && runIds.has(String(line['runId']))).map((line) => String(line['runId']));

  describe('when 20 runs of a three-step runbook start together', () => {
    it('runs every step exactly once, with the work spread over both processes', async () => {
      const runIds = (await startRuns(20, 'twenty')).map((r) => r.id);
      const runs = await settledAll(runIds, 30_000);
      expect(runs.map((r) => r.status)).toEqual(runIds.map(() => 'succeeded'));

      const ids = new Set(runIds);
      // No redelivery happened here, so every call is a first call and applied its effect.
      expect(await keysFor(t.state.calls, ids)).toEqual(keysOf(runIds));
      expect(await keysFor(t.state.effects, ids)).toEqual(keysOf(runIds));
      // Each run's last step was reported by exactly one process, and both processes took part.
      const [first, second] = workers.map((w) => finishedBy(w, ids));
      expect([...(first ?? []), ...(second ?? [])].sort()).toEqual([...runIds].sort());
      expect(first?.length, 'runs finished by worker 1').toBeGreaterThan(0);
      expect(second?.length, 'runs finished by worker 2').toBeGreaterThan(0);
    }, 60_000);
  });

  describe('when 200 runs start at once', () => {
    it('all succeed, each with a complete audit trail, and the shared chain verifies', async () => {
      const startedAt = Date.now();
      const runIds = (await startRuns(200, 'many')).map((r) => r.id);
      const runs = await settledAll(runIds, 60_000);
      console.info(`[scale] 200 runs × ${STEP_IDS.length} steps finished in ${Date.now() - startedAt} ms on 2 worker processes`);
      expect(runs.filter((r) => r.status !== 'succeeded').map((r) => `${r.id}: ${r.status}`)).toEqual([]);
      expect(runs).toHaveLength(200);

      const ids = new Set(runIds);
      expect(await keysFor(t.state.effects, ids)).toEqual(keysOf(runIds));
      const all = await t.audit.list({ limit: 10_000 });
      const byRun = recordsByRun(all, ids);
      expect(runIds.flatMap((id) => auditTrailProblems(id, byRun.get(id) ?? [], STEP_IDS))).toEqual([]);
      expect(await t.audit.verify()).toEqual({ ok: true, count: all.length });
    }, 90_000);
  });
});

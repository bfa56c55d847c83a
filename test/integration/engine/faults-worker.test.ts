/**
 * DESIGN.md §6: kill worker processes with SIGKILL mid-step and check that no step is lost, no side
 * effect is applied twice and no audit record is lost. The test process only starts the run (as
 * the web process or CLI would): it runs no step worker and no reconciler, so every step, every
 * redelivery and every outbox a crash left behind is handled by real `runbook worker` processes.
 */
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../src/audit/index.ts';
import { stepJobId } from '../../../src/engine/dispatcher.ts';
import { DEFAULT_WORKER_SETTINGS } from '../../../src/engine/workers.ts';
import { createTestEngine, REDIS_URL, type TestEngine } from '../../helpers/engine.ts';
import { sleep, startWorkerProcess, stopAllProcesses, type WorkerEnv } from '../../helpers/processes.ts';

const STEP_IDS = ['prepare', 'change', 'verify'] as const;
const FAULT_STEP = 'change';

function runbookWith(changeBlock: string): string {
  const fence = '```';
  return `---
title: Worker fault drill
---
# Worker fault drill

## Prepare {#prepare}
${fence}record
label: prepare
timeout: 60s
${fence}

## Change {#change}
${fence}${changeBlock}
timeout: 60s
${fence}

## Verify {#verify}
${fence}record
label: verify
timeout: 60s
${fence}
`;
}

interface FaultCase {
  readonly point: NonNullable<WorkerEnv['RUNBOOK_FAULT_POINT']>;
  readonly when: string;
  readonly changeBlock: string;
  /** Calls of the faulted step's executor the `record`/`slow` executor logs. */
  readonly changeCalls: number;
}

const CASES: readonly FaultCase[] = [
  // Killed after taking the job, before the executor is called: the executor runs once, on redelivery.
  { point: 'before-executor', when: 'before the executor is called', changeBlock: 'record\nlabel: change', changeCalls: 1 },
  // Killed 150 ms into a 1.5 s call: the first call never gets to apply its effect; the redelivered one does.
  { point: 'during-executor', when: 'while the executor runs', changeBlock: 'slow\nms: 1500\nlabel: change', changeCalls: 1 },
  // Killed after the executor applied its effect, before the result reached the engine: the
  // redelivered call repeats it with the same idempotency key, and the effect is not applied again.
  { point: 'after-executor', when: 'after the executor returned, before its result was applied', changeBlock: 'record\nlabel: change', changeCalls: 2 },
];

/** Every way a run's audit trail can be incomplete, as readable strings (empty when complete). */
function auditTrailProblems(records: readonly AuditRecord[]): string[] {
  const problems: string[] = [];
  const types = records.map((r) => r.type);
  if (types.filter((t) => t === 'run.started').length !== 1 || types[0] !== 'run.started') problems.push(`expected one run.started, first; got ${types.join(', ')}`);
  if (types.filter((t) => t === 'run.finished').length !== 1 || types.at(-1) !== 'run.finished') problems.push(`expected one run.finished, last; got ${types.join(', ')}`);
  if (new Set(records.map((r) => r.id)).size !== records.length) problems.push('duplicate record ids');
  const attemptOf = (r: AuditRecord) => {
    const data = r.data as { stepId: string; attempt: number; phase?: string };
    return `${data.stepId}/${data.phase ?? 'do'}/${data.attempt}`;
  };
  for (const started of records.filter((r) => r.type === 'step.started')) {
    const results = records.filter((r) => (r.type === 'step.succeeded' || r.type === 'step.failed') && attemptOf(r) === attemptOf(started));
    if (results.length !== 1) problems.push(`step ${attemptOf(started)} has ${results.length} result records, expected 1`);
    else if ((results[0]?.seq ?? 0) < started.seq) problems.push(`the result of ${attemptOf(started)} is on record before its start`);
  }
  return problems;
}

const count = (values: readonly string[], value: string) => values.filter((v) => v === value).length;

describe('engine with worker processes', () => {
  let t: TestEngine;
  let env: WorkerEnv;
  let probe: Redis;

  beforeAll(() => {
    probe = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  });
  afterAll(async () => {
    await probe.quit();
  });
  beforeEach(async () => {
    t = await createTestEngine({ workers: {}, reconciler: false });
    env = { REDIS_URL, RUNBOOK_REDIS_PREFIX: t.prefix, DATA_DIR: t.dataDir, RUNBOOK_TEST_EXECUTORS: '1' };
  });
  afterEach(async () => {
    await stopAllProcesses();
    await t.close();
    expect(await probe.keys(`${t.prefix}:*`)).toEqual([]);
  });

  for (const { point, when, changeBlock, changeCalls } of CASES) describe(`when a worker is SIGKILLed ${when}`, () => {
    it('a replacement worker finishes the run with every effect once and a complete audit trail', async () => {
      const doomed = await startWorkerProcess({ ...env, RUNBOOK_FAULT_POINT: point, RUNBOOK_FAULT_STEP: FAULT_STEP }, { name: `worker(${point})` });
      const run = await t.runtime.engine.startRun({ file: 'worker-fault-drill.md', source: runbookWith(changeBlock), params: {}, requester: { id: 'UREQ' } });

      const death = await doomed.waitForExit(20_000);
      expect(death.signal, doomed.output()).toBe('SIGKILL');
      expect(await t.redis.exists(`${t.prefix}:fault:${point}:${run.id}:${FAULT_STEP}`)).toBe(1);
      const stranded = await t.runtime.engine.getRun(run.id);
      expect(stranded?.snapshot.context.steps[FAULT_STEP]).toMatchObject({ status: 'running', attempt: 1 });

      const replacement = await startWorkerProcess(env, { name: 'replacement worker' });
      const done = await t.settled(run.id, 30_000);
      expect(done.status, replacement.output()).toBe('succeeded');

      // BullMQ redelivered the killed worker's job (it stalled once) rather than the engine
      // starting a second attempt: the step's only attempt is attempt 1.
      const job = await Job.fromId(t.runtime.queues.steps, stepJobId(run.id, FAULT_STEP, 'do', 1));
      expect(job).toMatchObject({ stalledCounter: 1, attemptsStarted: 2 });
      const resumedAfterMs = (job?.processedOn ?? 0) - death.atMs;
      console.info(`[faults] ${point}: step resumed ${resumedAfterMs} ms after the worker was killed`);
      expect(resumedAfterMs).toBeGreaterThan(0);
      expect(resumedAfterMs).toBeLessThan(DEFAULT_WORKER_SETTINGS.lockDurationMs + DEFAULT_WORKER_SETTINGS.stalledIntervalMs + 5_000);

      const keyOf = (stepId: string) => `${run.id}/${stepId}/do/1`;
      expect((await t.state.effects()).map((e) => e.key)).toEqual(STEP_IDS.map(keyOf));
      // Completed calls (a `slow` call also logs when it starts: `started` entries show redelivery).
      const calls = (await t.state.calls()).filter((c) => !c.started).map((c) => c.key);
      expect(STEP_IDS.map((id) => count(calls, keyOf(id)))).toEqual(STEP_IDS.map((id) => (id === FAULT_STEP ? changeCalls : 1)));

      const records = await t.audit.list({ runId: run.id });
      expect(auditTrailProblems(records)).toEqual([]);
      expect(records.filter((r) => r.type === 'step.started').map((r) => (r.data as { stepId: string; attempt: number }))).toMatchObject(STEP_IDS.map((stepId) => ({ stepId, attempt: 1 })));
      expect(await t.audit.verify()).toMatchObject({ ok: true });

      // SIGTERM drains and exits cleanly.
      expect(await replacement.stop()).toMatchObject({ code: 0 });
    }, 60_000);
  });

  describe('when one of two workers is SIGKILLed at an arbitrary moment with many runs in flight', () => {
    it('the survivor finishes every run, each effect once per attempt key, with complete audit trails', async () => {
      const [victim, survivor] = await Promise.all([startWorkerProcess(env, { name: 'victim' }), startWorkerProcess(env, { name: 'survivor' })]);
      const source = runbookWith('slow\nms: 300\nlabel: change');
      const runs = await Promise.all(Array.from({ length: 30 }, () => t.runtime.engine.startRun({ file: 'worker-fault-drill.md', source, params: {}, requester: { id: 'UREQ' } })));
      // Kill mid-stream: a few runs are done, the rest are between steps, in calls or in drains.
      while ((await Promise.all(runs.map((run) => t.runtime.engine.getRun(run.id)))).filter((run) => run?.status === 'succeeded').length < 5) await sleep(20);
      const death = await victim.kill('SIGKILL');
      const drainLocks = (await probe.keys(`${t.prefix}:drain:*`)).length;
      const unfinished = (await Promise.all(runs.map((run) => t.runtime.engine.getRun(run.id)))).filter((run) => run?.status === 'active').length;
      expect(unfinished, 'runs in flight when the victim died').toBeGreaterThan(0);

      for (const run of runs) expect((await t.settled(run.id, 60_000)).status, survivor.output()).toBe('succeeded');
      const finishedAfterMs = Date.now() - death.atMs;
      console.info(`[faults] victim killed with ${unfinished} runs in flight and ${drainLocks} drain locks in Redis; all finished ${finishedAfterMs} ms later`);
      // Held up by the victim's stalled step jobs (lock + stall check) and by the drain locks it died
      // holding (their TTL, then a reconciler pass): seconds, as for a single killed step.
      expect(finishedAfterMs).toBeLessThan(20_000);

      const keys = runs.flatMap((run) => STEP_IDS.map((id) => `${run.id}/${id}/do/1`)).sort();
      // Every step's effect happened once, under its attempt-1 key. `record` marks a key done (SET NX)
      // and then logs the effect in a second command, so a kill that lands between the two leaves
      // the effect applied but unlogged: read the done markers, and check the log has no duplicate.
      const done = (await probe.keys(`${t.prefix}:test:done:*`)).map((key) => key.slice(`${t.prefix}:test:done:`.length)).sort();
      expect(done).toEqual(keys);
      const logged = (await t.state.effects()).map((e) => e.key);
      expect(new Set(logged).size).toBe(logged.length);
      expect([...new Set((await t.state.calls()).map((c) => c.key))].sort()).toEqual(keys);
      for (const run of runs) expect(auditTrailProblems(await t.audit.list({ runId: run.id }))).toEqual([]);
      expect(await t.audit.verify()).toMatchObject({ ok: true });
    }, 90_000);
  });
});

/**
 * Redis restarts (a deploy, a crash with AOF on) while a step runs. Run state, outboxes and BullMQ
 * jobs live in Redis, so with `appendfsync always` a restart must lose nothing: the run in flight
 * resumes once the engine's connections come back, with every effect once and its audit complete.
 * Uses a private redis-server on a free 127.0.0.1 port, never the shared one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AuditRecord } from '../../../src/audit/index.ts';
import { sleep as executorSleep, type Executor } from '../../../src/executors/contract.ts';
import { createExecutorCatalog } from '../../../src/executors/specs.ts';
import { TEST_EXECUTOR_SPECS } from '../../../src/executors/testing.ts';
import { createTestEngine, type TestEngine } from '../../helpers/engine.ts';
import { freePort, sleep, startRedisServer, stopAllProcesses, type RedisServerProcess } from '../../helpers/processes.ts';

const fence = '```';
const drill = (block: string) => `---
title: Redis restart drill
---
# Redis restart drill

## Before {#before}
${fence}record
label: before
timeout: 60s
${fence}

## Change {#change}
${fence}${block}
timeout: 60s
${fence}

## After {#after}
${fence}record
label: after
timeout: 60s
${fence}
`;
const STEP_IDS = ['before', 'change', 'after'] as const;

/**
 * A call to an outside system that, unlike the `record`/`slow` test executors, keeps its state out
 * of the Redis being restarted: it can finish while Redis is down. Applies its effect once per key.
 */
function createOutsideSystem() {
  const calls: string[] = [];
  const effects: string[] = [];
  const executor: Executor = {
    spec: { name: 'outside', summary: 'A slow call to a system that stays up while Redis restarts (tests).', kind: 'call', mutating: true, args: z.strictObject({ ms: z.number().int().min(0) }) },
    run: async (input, ctx) => {
      calls.push(ctx.idempotencyKey);
      await executorSleep((input as { ms: number }).ms, ctx.signal);
      if (!effects.includes(ctx.idempotencyKey)) effects.push(ctx.idempotencyKey);
      return { key: ctx.idempotencyKey, finishedAt: Date.now() };
    },
  };
  return { executor, calls, effects };
}

function attemptsOf(records: readonly AuditRecord[], type: string): string[] {
  return records.filter((r) => r.type === type).map((r) => {
    const data = r.data as { stepId: string; attempt: number; phase?: string };
    return `${data.stepId}/${data.phase ?? 'do'}/${data.attempt}`;
  });
}

async function expectCompleteAuditTrail(t: TestEngine, runId: string): Promise<void> {
  const records = await t.audit.list({ runId });
  const types = records.map((r) => r.type);
  expect(types[0]).toBe('run.started');
  expect(types.at(-1)).toBe('run.finished');
  expect(types.filter((type) => type === 'run.started' || type === 'run.finished')).toHaveLength(2);
  expect(attemptsOf(records, 'step.started')).toEqual(STEP_IDS.map((id) => `${id}/do/1`));
  expect(attemptsOf(records, 'step.succeeded')).toEqual(STEP_IDS.map((id) => `${id}/do/1`));
  expect(await t.audit.verify()).toMatchObject({ ok: true });
}

async function serverRunId(url: string): Promise<string> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return /run_id:(\w+)/.exec(await client.info('server'))?.[1] ?? '';
  } finally {
    await client.quit();
  }
}

describe('engine when its Redis restarts', () => {
  let dir: string;
  let port: number;
  let server: RedisServerProcess;
  let t: TestEngine | undefined;
  /** What the engine's Redis connections reported (they log through the console). */
  let connectionLog: string[];
  // The runtime hands its logger to its Redis connections: capture what they report.
  const capture = (fields: Record<string, unknown>, message: string) => void connectionLog.push(`${message} ${JSON.stringify(fields)}`);
  const logger = { info: capture, warn: capture, error: capture };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-redis-restart-'));
    port = await freePort();
    server = await startRedisServer({ port, dir });
    connectionLog = [];
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await stopAllProcesses();
    rmSync(dir, { recursive: true, force: true });
  });

  /** SIGTERM (Redis fsyncs the AOF and exits), `outageMs` of nothing, then the same port and dir. */
  async function restartRedis(outageMs: number): Promise<void> {
    const before = await serverRunId(server.url);
    expect(await server.stop()).toMatchObject({ code: 0 });
    await sleep(outageMs);
    server = await startRedisServer({ port, dir });
    expect(await serverRunId(server.url)).not.toBe(before);
  }

  describe('when redis-server is stopped and started again while a step runs', () => {
    it('the run resumes and finishes with every effect once and a complete audit trail', async () => {
      t = await createTestEngine({ redisUrl: server.url, logger });
      t.redis.on('error', () => undefined); // the helper's own connection: expected to fail during the outage
      const run = await t.runtime.engine.startRun({ file: 'redis-restart-drill.md', source: drill('slow\nms: 3000\nlabel: change'), params: {}, requester: { id: 'UREQ' } });
      await t.waitFor(run.id, (r) => r.snapshot.context.steps['change']?.status === 'running');
      await sleep(500); // the 3 s call is under way
      await restartRedis(1_000);

      expect((await t.settled(run.id, 30_000)).status).toBe('succeeded');
      expect(connectionLog.some((line) => line.includes('redis connection restored'))).toBe(true);
      const keyOf = (stepId: string) => `${run.id}/${stepId}/do/1`;
      expect((await t.state.effects()).map((e) => e.key)).toEqual(STEP_IDS.map(keyOf));
      // If a lock lapsed during the outage the call may have been delivered again, but only as
      // attempt 1, with the same idempotency key.
      expect(new Set((await t.state.calls()).map((c) => c.key))).toEqual(new Set(STEP_IDS.map(keyOf)));
      await expectCompleteAuditTrail(t, run.id);
    }, 60_000);
  });

  describe('when Redis is down at the moment a step\'s executor returns', () => {
    it('the result reaches the run once Redis is back, and nothing is applied twice', async () => {
      const outside = createOutsideSystem();
      t = await createTestEngine({ redisUrl: server.url, logger, catalog: createExecutorCatalog([...TEST_EXECUTOR_SPECS, outside.executor.spec]), extraExecutors: [outside.executor] });
      t.redis.on('error', () => undefined);
      const run = await t.runtime.engine.startRun({ file: 'redis-restart-drill.md', source: drill('outside\nms: 1500'), params: {}, requester: { id: 'UREQ' } });
      await t.waitFor(run.id, (r) => r.snapshot.context.steps['change']?.status === 'running');
      await sleep(300);
      // Down from ~0.3 s to ~2.8 s into a 1.5 s call, longer than the step lock (2 s).
      await restartRedis(2_500);

      expect((await t.settled(run.id, 30_000)).status).toBe('succeeded');
      const key = `${run.id}/change/do/1`;
      expect(outside.effects).toEqual([key]);
      expect(new Set(outside.calls)).toEqual(new Set([key]));
      expect((await t.state.effects()).map((e) => e.key)).toEqual([`${run.id}/before/do/1`, `${run.id}/after/do/1`]);
      await expectCompleteAuditTrail(t, run.id);
    }, 60_000);
  });
});

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBackfillExecutor, type BackfillExecutor, type BackfillProgress } from '../../../src/executors/backfill.ts';
import { BACKFILL_QUEUE } from '../../../src/executors/backfill-partitions.ts';
import { createBackfillPartitionWorker, type BackfillPartitionWorker } from '../../../src/executors/backfill-worker.ts';
import type { Executor, ExecutorContext } from '../../../src/executors/contract.ts';
import { createHttpExecutor } from '../../../src/executors/http.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';
import { sendJson, startLoopback, type Loopback, type SeenRequest } from '../../fixtures/executors/loopback.ts';

const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const quiet = { info: () => undefined, warn: () => undefined };

/** A loopback feature pipeline: answers per partition with `answer`, after `delayMs`, tracking concurrency. */
interface Pipeline {
  readonly server: Loopback;
  /** Partitions in the order their requests arrived. */
  readonly seen: string[];
  maxConcurrent: number;
  answer: (partition: string, nth: number) => number;
}

async function startPipeline(delayMs: number): Promise<Pipeline> {
  let active = 0;
  const pipeline: Pipeline = {
    server: undefined as unknown as Loopback,
    seen: [],
    maxConcurrent: 0,
    answer: () => 200,
  };
  const handle = (request: SeenRequest, res: ServerResponse) => {
    const partition = /\/partitions\/([^/]+)\/materialize/.exec(request.path)?.[1] ?? '?';
    pipeline.seen.push(partition);
    active += 1;
    pipeline.maxConcurrent = Math.max(pipeline.maxConcurrent, active);
    const status = pipeline.answer(partition, pipeline.seen.filter((p) => p === partition).length);
    setTimeout(() => {
      active -= 1;
      sendJson(res, status, { partition, rows: 10 });
    }, delayMs);
  };
  Object.assign(pipeline, { server: await startLoopback(handle) });
  return pipeline;
}

let prefix: string;
let redis: Redis;
let executorRedis: Redis;
let worker: BackfillPartitionWorker;
let executor: BackfillExecutor;
let pipeline: Pipeline | undefined;
const registry = new Map<string, Executor>([['http', createHttpExecutor()]]);

beforeEach(async () => {
  prefix = `test-bf-${randomUUID().slice(0, 8)}`;
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  executorRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  worker = await createBackfillPartitionWorker({ connection: redis, prefix: `${prefix}:bull`, executors: () => registry, logger: quiet, concurrency: 8, lockDurationMs: 2_000, stalledIntervalMs: 500 });
  executor = createBackfillExecutor({ connection: executorRedis, prefix: `${prefix}:bull`, executors: () => registry, pollIntervalMs: 200, progressIntervalMs: 0, partitionBackoffMs: 50 });
});

afterEach(async () => {
  await executor.close();
  await worker.close();
  await pipeline?.server.close();
  pipeline = undefined;
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await Promise.all([redis.quit(), executorRedis.quit()]);
});

function backfill(overrides: Record<string, unknown> = {}) {
  return {
    dataset: 'features.user_activity_daily',
    from: '2024-05-01',
    to: '2024-05-10',
    partition: 'day',
    parallelism: 3,
    call: {
      executor: 'http',
      method: 'POST',
      url: `${pipeline?.server.origin}/v1/datasets/features.user_activity_daily/partitions/{{ partition }}/materialize`,
      json: { partition: '{{ partition }}', write_mode: 'overwrite' },
      expect: [200, 201],
    },
    ...overrides,
  };
}

function attemptContext(attempt: number): { ctx: ExecutorContext; controller: AbortController; reports: BackfillProgress[] } {
  const { ctx, controller } = createTestContext({ attempt, idempotencyKey: `run-1/step-a/do/${attempt}` });
  const reports: BackfillProgress[] = [];
  return { ctx: Object.assign(ctx, { progress: (p: BackfillProgress) => reports.push(p) }), controller, reports };
}

const days = (n: number) => Array.from({ length: n }, (_, i) => `2024-05-${String(i + 1).padStart(2, '0')}`);

describe('backfill executor (real Redis, loopback pipeline)', () => {
  describe('when 10 daily partitions run with parallelism 3', () => {
    it('does each partition once, never more than 3 at a time, and reports progress', async () => {
      pipeline = await startPipeline(60);
      const { ctx, reports } = attemptContext(1);
      const output = await executor.run(backfill(), ctx);
      expect(output).toMatchObject({ dataset: 'features.user_activity_daily', partition: 'day', total: 10, done: 10, failed: [], skipped_already_done: 0 });
      expect([...pipeline.seen].sort()).toEqual(days(10));
      expect(pipeline.maxConcurrent).toBe(3);
      expect(pipeline.server.requests[0]?.headers['idempotency-key']).toMatch(/^run-1\/step-a\/do\/1\/2024-05-\d\d$/);
      expect(JSON.parse(pipeline.server.requests[0]?.body ?? '{}')).toMatchObject({ partition: pipeline.seen[0], write_mode: 'overwrite' });
      expect(reports.at(-1)).toEqual({ kind: 'backfill', dataset: 'features.user_activity_daily', total: 10, done: 10, failed: 0, in_flight: 0, skipped_already_done: 0 });
      expect(reports.map((r) => r.done)).toEqual([...reports.map((r) => r.done)].sort((a, b) => a - b));
      expect(reports.length).toBeGreaterThan(2);
    });
  });

  describe('when a partition fails twice, then succeeds', () => {
    it('is absorbed by the partition job own tries, with the same idempotency key', async () => {
      pipeline = await startPipeline(5);
      pipeline.answer = (partition, nth) => (partition === '2024-05-04' && nth <= 2 ? 503 : 200);
      const output = await executor.run(backfill(), attemptContext(1).ctx);
      expect(output).toMatchObject({ total: 10, done: 10, failed: [] });
      const tries = pipeline.server.requests.filter((r) => r.path.includes('/2024-05-04/'));
      expect(tries.map((r) => r.headers['idempotency-key'])).toEqual(Array(3).fill('run-1/step-a/do/1/2024-05-04'));
    });
  });

  describe('when a partition always fails', () => {
    it('lists it in the error, and a retry attempt calls only that partition again', async () => {
      pipeline = await startPipeline(5);
      let broken = true;
      pipeline.answer = (partition) => (broken && partition === '2024-05-07' ? 503 : 200);
      const error = await rejectionOf(executor.run(backfill(), attemptContext(1).ctx));
      expect(error).toMatchObject({ code: 'backfill_partitions_failed', retryable: true });
      expect(error.message).toMatch(/^1 of 10 partitions of features\.user_activity_daily failed after their tries: 2024-05-07 \(http_unexpected_status: POST .* answered 503/);
      expect(pipeline.seen.filter((p) => p === '2024-05-07')).toHaveLength(3);

      broken = false;
      const before = pipeline.seen.length;
      const output = await executor.run(backfill(), attemptContext(2).ctx);
      expect(output).toMatchObject({ total: 10, done: 10, failed: [], skipped_already_done: 9 });
      expect(pipeline.seen.slice(before)).toEqual(['2024-05-07']);
      expect(pipeline.server.requests.at(-1)?.headers['idempotency-key']).toBe('run-1/step-a/do/2/2024-05-07');
    });

    it('does not try a partition again when its failure is not retryable', async () => {
      pipeline = await startPipeline(5);
      pipeline.answer = (partition) => (partition === '2024-05-02' ? 404 : 200);
      const error = await rejectionOf(executor.run(backfill({ to: '2024-05-03' }), attemptContext(1).ctx));
      expect(error.message).toMatch(/^1 of 3 partitions .* 2024-05-02 \(http_unexpected_status: .*404/);
      expect(pipeline.seen.filter((p) => p === '2024-05-02')).toHaveLength(1);
    });
  });

  describe('when the same attempt is delivered twice at once (at-least-once delivery)', () => {
    it('runs each partition once', async () => {
      pipeline = await startPipeline(30);
      const [first, second] = await Promise.all([executor.run(backfill(), attemptContext(1).ctx), executor.run(backfill(), attemptContext(1).ctx)]);
      expect(first).toMatchObject({ done: 10, failed: [] });
      expect(second).toMatchObject({ done: 10, failed: [] });
      expect([...pipeline.seen].sort()).toEqual(days(10));
    });
  });

  describe('when an earlier delivery of the same attempt cancelled itself on an error', () => {
    it('a redelivery of that attempt still runs its partitions', async () => {
      pipeline = await startPipeline(1);
      await redis.sadd(`${prefix}:bull:backfill:run-1:step-a:do:cancelled`, '1');
      const output = await executor.run(backfill({ to: '2024-05-03' }), attemptContext(1).ctx);
      expect(output).toMatchObject({ total: 3, done: 3, failed: [] });
      expect([...pipeline.seen].sort()).toEqual(days(3));
    });
  });

  describe('when a partition worker dies after its call, before recording it', () => {
    it('another worker runs the partition again with the same idempotency key, and the backfill completes', async () => {
      pipeline = await startPipeline(5);
      await worker.close();
      const http = createHttpExecutor();
      const dying: Executor = { spec: http.spec, run: async (input, ctx) => (await http.run(input, ctx), new Promise(() => undefined)) };
      const doomed = await createBackfillPartitionWorker({ connection: redis, prefix: `${prefix}:bull`, executors: () => new Map([['http', dying]]), logger: quiet, lockDurationMs: 1_000, stalledIntervalMs: 500 });
      const running = executor.run(backfill({ to: '2024-05-02', parallelism: 1 }), attemptContext(1).ctx);
      while (pipeline.seen.length < 1) await new Promise((r) => setTimeout(r, 10));
      await doomed.close(true);
      worker = await createBackfillPartitionWorker({ connection: redis, prefix: `${prefix}:bull`, executors: () => registry, logger: quiet, lockDurationMs: 1_000, stalledIntervalMs: 500 });
      expect(await running).toMatchObject({ total: 2, done: 2, failed: [] });
      expect(pipeline.seen).toEqual(['2024-05-01', '2024-05-01', '2024-05-02']);
      const keys = pipeline.server.requests.slice(0, 2).map((r) => r.headers['idempotency-key']);
      expect(keys).toEqual(['run-1/step-a/do/1/2024-05-01', 'run-1/step-a/do/1/2024-05-01']);
    });
  });

  describe('when the backfill is aborted midway', () => {
    it('stops enqueueing, removes its queued jobs, sends nothing more, and a retry resumes', async () => {
      pipeline = await startPipeline(150);
      const { ctx, controller } = attemptContext(1);
      const running = executor.run(backfill({ to: '2024-05-20', parallelism: 2 }), ctx);
      while (pipeline.seen.length < 4) await new Promise((r) => setTimeout(r, 10));
      controller.abort();
      const error = await rejectionOf(running);
      expect(error.name).toBe('AbortError');
      const sent = pipeline.seen.length;
      expect(sent).toBeLessThan(8);
      await new Promise((r) => setTimeout(r, 700));
      expect(pipeline.seen.length).toBe(sent);
      const queue = new Queue(BACKFILL_QUEUE, { connection: redis, prefix: `${prefix}:bull` });
      expect(await queue.getJobCounts('waiting', 'delayed', 'active')).toEqual({ waiting: 0, delayed: 0, active: 0 });
      await queue.close();

      const resumed = await executor.run(backfill({ to: '2024-05-20', parallelism: 2 }), attemptContext(2).ctx);
      expect(resumed).toMatchObject({ total: 20, done: 20, failed: [] });
      const skipped = (resumed as { skipped_already_done: number }).skipped_already_done;
      expect(skipped).toBeGreaterThan(0);
      expect(new Set(pipeline.seen.slice(sent)).size).toBe(20 - skipped);
    });
  });

  describe('when partitioned by hour over two days', () => {
    it('runs 48 partitions', async () => {
      pipeline = await startPipeline(1);
      const output = await executor.run(backfill({ from: '2024-05-01', to: '2024-05-02', partition: 'hour', parallelism: 16 }), attemptContext(1).ctx);
      expect(output).toMatchObject({ partition: 'hour', total: 48, done: 48, failed: [] });
      expect(new Set(pipeline.seen).size).toBe(48);
      expect(pipeline.seen).toContain('2024-05-02T23');
    });
  });
});

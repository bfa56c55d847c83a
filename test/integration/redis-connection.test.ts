import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisConnection, waitForRedis, type RedisLogger } from '../../src/integrations/redis.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const SECRET = 'hunter2-s3cret';

interface LogLine {
  level: 'warn' | 'info';
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(): RedisLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
  };
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function track(connection: Redis): Redis {
  cleanups.push(async () => connection.disconnect());
  return connection;
}

describe('createRedisConnection', () => {
  describe('when Redis is up', () => {
    it.each(['worker', 'producer', 'command'] as const)('answers PING (%s)', async (role) => {
      const connection = track(createRedisConnection(REDIS_URL, { role, logger: recordingLogger() }));
      await expect(waitForRedis(connection, 5_000)).resolves.toBe(true);
      expect(await connection.client('GETNAME')).toBe(`runbook-bot:${role}`);
    });

    it('carries a BullMQ job from a producer connection to a worker connection, delayed job included', async () => {
      const name = `redis-it-${randomUUID()}`;
      const producer = track(createRedisConnection(REDIS_URL, { role: 'producer' }));
      const queue = new Queue(name, { connection: producer });
      cleanups.push(async () => {
        await queue.obliterate({ force: true });
        await queue.close();
      });
      const seen: unknown[] = [];
      const worker = new Worker(name, async (job) => {
        seen.push(job.data);
        return { echoed: job.data };
      }, { connection: track(createRedisConnection(REDIS_URL, { role: 'worker' })) });
      worker.on('error', () => undefined);
      cleanups.push(() => worker.close());

      await queue.add('now', { n: 1 }, { jobId: 'job-1' });
      await queue.add('later', { n: 2 }, { jobId: 'job-2', delay: 150 });
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(2);
      expect(seen).toEqual([{ n: 1 }, { n: 2 }]);
      expect((await queue.getJob('job-1'))?.returnvalue).toEqual({ echoed: { n: 1 } });
    });

    it('is refused by a BullMQ Worker unless its role is worker', () => {
      const producer = track(createRedisConnection(REDIS_URL, { role: 'producer' }));
      expect(() => new Worker(`redis-it-${randomUUID()}`, async () => undefined, { connection: producer, autorun: false }))
        .toThrow(/maxRetriesPerRequest must be null/);
    });
  });

  describe('when nothing listens on the port', () => {
    it('logs the outage once, without the password, and never raises an unhandled error', async () => {
      const logger = recordingLogger();
      const unhandled: unknown[] = [];
      const onUncaught = (error: unknown): void => void unhandled.push(error);
      process.on('uncaughtException', onUncaught);
      cleanups.push(async () => process.off('uncaughtException', onUncaught));
      const url = `redis://:${SECRET}@127.0.0.1:${await closedPort()}`;
      const connection = track(createRedisConnection(url, { role: 'worker', logger }));
      let errorEvents = 0;
      connection.on('error', () => errorEvents++);

      expect(await waitForRedis(connection, 2_500)).toBe(false);
      expect(errorEvents).toBeGreaterThanOrEqual(2); // the same error on every reconnect attempt…
      expect(unhandled).toEqual([]);
      expect(logger.lines).toHaveLength(1); // …logged once
      expect(logger.lines[0]).toMatchObject({ level: 'warn', message: 'redis connection error', fields: { role: 'worker', code: 'ECONNREFUSED' } });
      expect(JSON.stringify(logger.lines)).not.toContain(SECRET);
    });

    it('makes a producer command fail at once instead of queueing', async () => {
      const connection = track(createRedisConnection(`redis://127.0.0.1:${await closedPort()}`, { role: 'producer', logger: recordingLogger() }));
      const started = Date.now();
      await expect(connection.set('k', 'v')).rejects.toThrow(/enableOfflineQueue/);
      expect(Date.now() - started).toBeLessThan(500);
    });
  });
});

describe('waitForRedis', () => {
  describe('when the connection was closed on purpose', () => {
    it('resolves false at once', async () => {
      const connection = createRedisConnection(REDIS_URL, { role: 'command' });
      await connection.quit();
      const started = Date.now();
      expect(await waitForRedis(connection, 5_000)).toBe(false);
      expect(Date.now() - started).toBeLessThan(500);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { buildRedisOptions, createRedisConnection, REDIS_ROLE_OPTIONS, resolveRedis } from '../../../src/integrations/redis.ts';
import { RedisSetupError } from '../../../src/integrations/redis-errors.ts';

const SECRET = 'hunter2-s3cret';

describe('buildRedisOptions', () => {
  describe('when the role is worker', () => {
    it('waits forever for Redis, as BullMQ workers require', () => {
      const options = buildRedisOptions('redis://127.0.0.1:6379', 'worker');
      expect(options.maxRetriesPerRequest).toBeNull();
      expect(options.enableOfflineQueue).toBe(true);
      expect(options.commandTimeout).toBeUndefined();
      expect(options.connectionName).toBe('runbook-bot:worker');
    });
  });

  describe('when the role is producer', () => {
    it('fails fast: no offline queue, one retry, bounded connect and command time', () => {
      const options = buildRedisOptions('redis://127.0.0.1:6379', 'producer');
      expect(options).toMatchObject({ maxRetriesPerRequest: 1, enableOfflineQueue: false });
      expect(options.connectTimeout).toBeLessThanOrEqual(3_000);
      expect(options.commandTimeout).toBeLessThanOrEqual(2_000);
    });
  });

  describe('when the role is command', () => {
    it('rides out a short reconnect but never waits forever', () => {
      const options = buildRedisOptions('redis://127.0.0.1:6379', 'command');
      expect(options).toMatchObject({ maxRetriesPerRequest: 3, enableOfflineQueue: true });
      expect(options.commandTimeout).toBeGreaterThan(0);
    });
  });

  it.each(['worker', 'producer', 'command'] as const)('pins RESP3 with RESP2-shaped replies and keeps reconnecting (%s)', (role) => {
    const options = buildRedisOptions('redis://h', role);
    expect(options).toMatchObject({ protocol: 3, replyMapping: 'legacy' });
    const delays = [1, 5, 10, 50].map((times) => options.retryStrategy?.(times));
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(1_000);
      expect(delay).toBeLessThanOrEqual(REDIS_ROLE_OPTIONS[role].maxReconnectDelayMs);
    }
  });

  it('maps a TCP URL with credentials, TLS and database', () => {
    expect(buildRedisOptions(`rediss://app:${SECRET}@cache.example:6380/4`, 'command')).toMatchObject({
      host: 'cache.example', port: 6380, db: 4, username: 'app', password: SECRET, tls: { servername: 'cache.example' },
    });
  });

  it('maps a unix socket URL to ioredis `path`', () => {
    const options = buildRedisOptions(`unix:///tmp/r.sock?db=1&password=${SECRET}`, 'worker');
    expect(options).toMatchObject({ path: '/tmp/r.sock', db: 1, password: SECRET });
    expect(options.host).toBeUndefined();
  });
});

describe('createRedisConnection', () => {
  describe('when the URL is malformed', () => {
    it('throws a coded error before connecting, without the password', () => {
      const attempt = (): unknown => createRedisConnection(`redis://:${SECRET}@host:70000`, { role: 'producer' });
      expect(attempt).toThrow(RedisSetupError);
      expect(attempt).toThrow(expect.objectContaining({ code: 'redis_url_invalid', message: expect.not.stringContaining(SECRET) }));
    });
  });
});

describe('resolveRedis', () => {
  describe('when REDIS_URL is set', () => {
    it('uses it and starts nothing', async () => {
      await expect(resolveRedis({ REDIS_URL: ' redis://127.0.0.1:6379/2 ' }, { dataDir: '/nonexistent' })).resolves.toEqual({
        url: 'redis://127.0.0.1:6379/2',
      });
    });

    it('rejects a malformed one with a coded error that does not echo the password', async () => {
      const rejection = resolveRedis({ REDIS_URL: `redis//:${SECRET}@host` }, { dataDir: '/nonexistent' });
      await expect(rejection).rejects.toMatchObject({ code: 'redis_url_invalid', retryable: false });
      await expect(rejection).rejects.toThrow(/^REDIS_URL is invalid/);
      await expect(rejection).rejects.not.toThrow(SECRET);
    });
  });
});

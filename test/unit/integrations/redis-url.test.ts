import { describe, expect, it } from 'vitest';
import { RedisSetupError } from '../../../src/integrations/redis-errors.ts';
import { describeRedisTarget, parseRedisUrl, redactRedisUrl, unixSocketUrl } from '../../../src/integrations/redis-url.ts';

const SECRET = 'hunter2-s3cret';

function parseError(url: string): RedisSetupError {
  try {
    parseRedisUrl(url);
  } catch (error) {
    if (error instanceof RedisSetupError) return error;
    throw error;
  }
  throw new Error(`expected ${url} to be rejected`);
}

describe('parseRedisUrl', () => {
  describe('when the URL is a TCP URL', () => {
    it('applies the default port and database', () => {
      expect(parseRedisUrl('redis://cache.internal')).toEqual({ kind: 'tcp', host: 'cache.internal', port: 6379, tls: false, db: 0 });
    });

    it('reads credentials, port and database, decoding percent-escapes', () => {
      expect(parseRedisUrl(`redis://app:${encodeURIComponent('p@ss/w:rd')}@10.0.0.5:6380/3`)).toEqual({
        kind: 'tcp', host: '10.0.0.5', port: 6380, tls: false, db: 3, username: 'app', password: 'p@ss/w:rd',
      });
    });

    it('accepts a password without a user name', () => {
      expect(parseRedisUrl(`redis://:${SECRET}@h:1`)).toMatchObject({ password: SECRET });
      expect(parseRedisUrl(`redis://:${SECRET}@h:1`)).not.toHaveProperty('username');
    });

    it('turns on TLS for rediss:// and unwraps IPv6 hosts', () => {
      expect(parseRedisUrl('rediss://[::1]:6390')).toMatchObject({ kind: 'tcp', host: '::1', port: 6390, tls: true });
    });

    it('accepts the database as a query parameter', () => {
      expect(parseRedisUrl('redis://h?db=5')).toMatchObject({ db: 5 });
    });
  });

  describe('when the URL names a unix socket', () => {
    it('reads unix:// and redis+unix:// with db and password in the query', () => {
      expect(parseRedisUrl(`unix:///var/run/redis.sock?db=2&password=${SECRET}`)).toEqual({
        kind: 'unix', path: '/var/run/redis.sock', db: 2, password: SECRET,
      });
      expect(parseRedisUrl('redis+unix:///tmp/r.sock')).toEqual({ kind: 'unix', path: '/tmp/r.sock', db: 0 });
    });

    it('round-trips any path through unixSocketUrl', () => {
      const path = '/tmp/a dir/%41?#x/redis.sock';
      expect(parseRedisUrl(unixSocketUrl(path))).toEqual({ kind: 'unix', path, db: 0 });
    });
  });

  describe('when the URL is malformed', () => {
    it.each([
      ['an unsupported scheme', `http://:${SECRET}@host:6379`, 'scheme "http:"'],
      ['a port out of range', `redis://:${SECRET}@host:99999`, 'not a URL'],
      ['a user name without password', `redis://${SECRET}@host`, 'user name but no password'],
      ['a non-numeric database', `redis://:${SECRET}@host/zero`, 'non-negative integer'],
      ['an unknown query parameter', `redis://host?password=${SECRET}&tls=1`, '"tls" is not supported'],
      ['a host in a socket URL', `unix://host/tmp/r.sock?password=${SECRET}`, 'three slashes'],
      ['a bare path', '/tmp/redis.sock', 'unix:///path/to/redis.sock'],
      ['a missing scheme separator', `redis//:${SECRET}@host`, 'not a URL'],
      ['a missing host', `redis://:${SECRET}`, 'not a URL'],
      ['an empty value', '   ', 'empty'],
    ])('rejects %s with a coded error that does not echo the password', (_name, url, reason) => {
      const error = parseError(url);
      expect(error.code).toBe('redis_url_invalid');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain(reason);
      expect(error.message).toContain('Expected redis://');
      expect(error.message).not.toContain(SECRET);
    });

    it('reports every problem at once', () => {
      const message = parseError('redis://h/x?db=1&foo=2').message;
      expect(message).toContain('non-negative integer');
      expect(message).toContain('both in the path and as ?db=');
      expect(message).toContain('"foo" is not supported');
    });

    it('names the setting it was given', () => {
      expect(() => parseRedisUrl('nope', 'TEST_REDIS_URL')).toThrow(/^TEST_REDIS_URL is invalid/);
    });
  });
});

describe('redactRedisUrl', () => {
  it.each([
    [`redis://app:${SECRET}@h:6379/0`, 'redis://app:***@h:6379/0'],
    [`redis://:${SECRET}@h`, 'redis://:***@h'],
    [`redis://${SECRET}@h`, 'redis://***@h'],
    [`unix:///s.sock?db=1&password=${SECRET}`, 'unix:///s.sock?db=1&password=***'],
    [`redis://:p@ss@${SECRET}@h`, 'redis://:***@h'],
    [`redis://:${SECRET} with spaces@ho st:x`, 'redis://:***@ho st:x'],
    [`redis//:${SECRET}@host`, '***@host'],
    [`redis://:${SECRET}`, 'redis://:***'],
    [`redis://app:${SECRET}/0`, 'redis://app:***'],
    ['redis://h:6379/0', 'redis://h:6379/0'],
    ['redis://[::1]:6379', 'redis://[::1]:6379'],
    ['redis://h:99999', 'redis://h:99999'],
  ])('masks %s', (raw, expected) => {
    expect(redactRedisUrl(raw)).toBe(expected);
  });
});

describe('describeRedisTarget', () => {
  it('describes a target without credentials', () => {
    expect(describeRedisTarget(parseRedisUrl(`rediss://u:${SECRET}@[::1]:7/2`))).toBe('rediss://[::1]:7/2');
    expect(describeRedisTarget(parseRedisUrl(`unix:///r.sock?db=3&password=${SECRET}`))).toBe('unix:///r.sock?db=3');
  });
});

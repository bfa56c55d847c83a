/**
 * The Redis side of the write-ahead outbox, shared by the run store and the incident store (both
 * follow DESIGN.md §2: the snapshot and its outbox entry are written by one script; draining is
 * serialized per record by a token lock; a drained entry is popped only if it is still the head).
 */
import type { Redis } from 'ioredis';

/**
 * Creates a record with its first outbox entry, claiming a unique key first when one is given
 * (a run's concurrency key, an incident's PagerDuty id). Returns `{1, ''}` created, `{0, holder}`
 * when the unique key is held, `{-1, ''}` when the record exists.
 */
export const CREATE_WITH_OUTBOX = `
-- KEYS: record, index (sorted set), unique key (or ''), outbox, pending
-- ARGV: id, createdAt, outbox entry, then field/value pairs
if KEYS[3] ~= '' then
  local holder = redis.call('GET', KEYS[3])
  if holder then return {0, holder} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, ''} end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], ARGV[1]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
return {1, ''}
`;

const POP_OUTBOX = `
-- KEYS: outbox, pending; ARGV: the entry just drained, the record's id
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LPOP', KEYS[1]) end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[2]) end
return redis.call('LLEN', KEYS[1])
`;

const EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/** Removes the drained entry `raw` if it is still the outbox's head; returns how many remain. */
export async function popOutboxEntry(redis: Redis, outboxKey: string, pendingKey: string, raw: string, id: string): Promise<number> {
  return (await redis.eval(POP_OUTBOX, 2, outboxKey, pendingKey, raw, id)) as number;
}

/** Takes a drain lock (one drainer at a time keeps a record's effects in order). */
export async function takeDrainLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return (await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK';
}

/** Renews a drain lock; false when it is no longer `token`'s (it expired, another took it). */
export async function extendDrainLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return (await redis.eval(EXTEND, 1, key, token, String(ttlMs))) === 1;
}

/** Releases a drain lock if `token` still holds it. */
export async function releaseDrainLock(redis: Redis, key: string, token: string): Promise<void> {
  await redis.eval(UNLOCK, 1, key, token);
}

/**
 * The write-ahead outbox of DESIGN.md §2, shared by the run store and the incident store: the
 * snapshot and its outbox entry are written by one script (the stores' own create and commit
 * scripts); draining is serialized per record by a token lock, takes entries oldest first and pops
 * one only once it has been processed, so a crash anywhere repeats work rather than losing it.
 */
import { randomUUID } from 'node:crypto';
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

/** Where one kind of record keeps its outboxes. */
export interface OutboxKeys {
  /** List: the record's undrained entries, oldest first. */
  outbox(id: string): string;
  /** Sorted set: records with undrained entries, by when the entry was written. */
  readonly pending: string;
  /** String: the record's drain lock. */
  lock(id: string): string;
}

/** The undrained entries of one kind of record (runs, incidents). */
export class Outbox<Entry> {
  constructor(
    private readonly redis: Redis,
    private readonly keys: OutboxKeys,
  ) {}

  /** The oldest undrained entry, with its raw text (to pop exactly that one). */
  async peek(id: string): Promise<{ raw: string; entry: Entry } | undefined> {
    const raw = await this.redis.lindex(this.keys.outbox(id), 0);
    return raw === null ? undefined : { raw, entry: JSON.parse(raw) as Entry };
  }

  /** Removes the drained entry `raw` if it is still the head; returns how many remain. */
  async pop(id: string, raw: string): Promise<number> {
    return (await this.redis.eval(POP_OUTBOX, 2, this.keys.outbox(id), this.keys.pending, raw, id)) as number;
  }

  /** Records whose outbox was written before `before` and is not drained yet. */
  pending(before: number, limit = 500): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.pending, '-inf', before, 'LIMIT', 0, limit);
  }

  /** Takes the record's drain lock (one drainer at a time keeps its effects in order). */
  async lock(id: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.lock(id), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Renews the drain lock; false when it is no longer `token`'s (it expired, another took it). */
  async extend(id: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(EXTEND, 1, this.keys.lock(id), token, String(ttlMs))) === 1;
  }

  /** Releases the drain lock if `token` still holds it. */
  async unlock(id: string, token: string): Promise<void> {
    await this.redis.eval(UNLOCK, 1, this.keys.lock(id), token);
  }

  /**
   * Processes the record's entries oldest first under its drain lock (renewed before each further
   * entry), popping each once `process` resolved; looks again after releasing the lock, since
   * another process may have committed meanwhile. Resolves `false` when it stopped because another
   * drainer holds the lock (that one finishes the job), `true` otherwise.
   */
  async drain(id: string, lockMs: number, process: (entry: Entry) => Promise<void>): Promise<boolean> {
    for (let pass = 0; pass < 3; pass += 1) {
      const token = randomUUID();
      if (!(await this.lock(id, token, lockMs))) return false;
      try {
        for (let drained = 0; ; drained += 1) {
          const next = await this.peek(id);
          if (!next) break;
          if (drained > 0 && !(await this.extend(id, token, lockMs))) break;
          await process(next.entry);
          await this.pop(id, next.raw);
        }
      } finally {
        await this.unlock(id, token);
      }
      if (!(await this.peek(id))) break;
    }
    return true;
  }
}

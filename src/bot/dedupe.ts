/**
 * Delivery dedupe in Redis. Slack retries a delivery it thinks failed with the same body (and
 * `X-Slack-Retry-Num`); a slash command has no id of its own, but its `trigger_id` is unique per
 * invocation and repeated in a retry. `SET key 1 NX PX ttl` claims it atomically across every web
 * process, so a retry never starts a second run or approves twice.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DeliveryDedupe } from './ports.ts';

/** Options of {@link createRedisDedupe}. */
export interface RedisDedupeOptions {
  readonly redis: Redis;
  /** Key prefix (the deployment's, e.g. `rb`). */
  readonly prefix: string;
  /** How long a delivery is remembered; Slack retries within minutes. @default 3600000 */
  readonly ttlMs?: number;
}

/** A dedupe backed by one Redis key per delivery. */
export function createRedisDedupe(options: RedisDedupeOptions): DeliveryDedupe {
  const ttlMs = options.ttlMs ?? 3_600_000;
  return {
    isFirstDelivery: async (kind, id) => {
      // Hashed: ids come from the request and must not shape the key space.
      const digest = createHash('sha256').update(`${kind}\n${id}`).digest('hex').slice(0, 32);
      return (await options.redis.set(`${options.prefix}:slack:delivery:${digest}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
  };
}

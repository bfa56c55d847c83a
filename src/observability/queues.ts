/**
 * Every BullMQ queue of a deployment, for `/metrics` depth gauges and the `/admin/queues`
 * dashboard: the engine's (`steps`, `timers`, `notify`), the incidents' and the backfill
 * partitions'. The ones the runtime does not own are opened here on its Redis connection.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BACKFILL_QUEUE } from '../executors/backfill-partitions.ts';

/** What {@link deploymentQueues} needs from a runtime. */
export interface QueueSource {
  readonly redis: Redis;
  readonly keys: { readonly queuePrefix: string };
  readonly queues: object;
  readonly incidentQueues?: object;
}

/** The queues, and a close for the ones opened here (never the runtime's). */
export interface DeploymentQueues {
  readonly queues: readonly Queue[];
  close(): Promise<void>;
}

/** Lists the runtime's queues and opens a handle on the backfill partitions queue. */
export function deploymentQueues(runtime: QueueSource): DeploymentQueues {
  const owned = [new Queue(BACKFILL_QUEUE, { connection: runtime.redis, prefix: runtime.keys.queuePrefix })];
  for (const queue of owned) queue.on('error', () => undefined); // the connection logs its own errors
  const queues = [...queuesIn(runtime.queues), ...queuesIn(runtime.incidentQueues), ...owned];
  const unique = [...new Map(queues.map((q) => [q.name, q])).values()];
  let closing: Promise<void> | undefined;
  return { queues: unique, close: () => (closing ??= Promise.all(owned.map((q) => q.close())).then(() => undefined)) };
}

function queuesIn(group: object | undefined): Queue[] {
  return group ? Object.values(group).filter((value): value is Queue => value instanceof Queue) : [];
}

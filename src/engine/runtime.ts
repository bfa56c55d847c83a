/**
 * Wires the engine for one process: Redis connections, the queues, the engine, and whichever
 * workers this process runs. `close()` drains in-flight work and is idempotent; `close(true)`
 * does not wait (a second SIGTERM).
 */
import type { Redis } from 'ioredis';
import type { AuditStore } from '../audit/index.ts';
import type { ExecutorRegistry } from './executor-contract.ts';
import { createRedisConnection } from '../integrations/redis.ts';
import type { ExecutorCatalog } from '../machines/executor-spec.ts';
import { Dispatcher } from './dispatcher.ts';
import { Engine, type EngineLogger } from './engine.ts';
import { engineKeys, type EngineKeys } from './keys.ts';
import { createQueues, type EngineQueues } from './queues.ts';
import { startReconciler, type Reconciler } from './reconciler.ts';
import { createNotifyWorker, createStepWorker, createTimerWorker, type EngineWorker, type FaultInjection, type Notifier, type WorkerSettings } from './workers.ts';

export interface RuntimeOptions {
  readonly redisUrl: string;
  /** Key prefix for everything this deployment stores in Redis. */
  readonly prefix: string;
  readonly audit: AuditStore;
  readonly catalog: ExecutorCatalog;
  readonly executors: ExecutorRegistry;
  /** Executors the catalog names that this process cannot run, and why. */
  readonly unavailableExecutors?: ReadonlyMap<string, string>;
  readonly logger: EngineLogger;
  /** Which workers run in this process; the web process runs none. */
  readonly workers?: { readonly steps?: boolean; readonly timers?: boolean; readonly notify?: boolean };
  readonly reconciler?: boolean | { readonly intervalMs?: number; readonly graceMs?: number };
  readonly workerSettings?: Partial<WorkerSettings>;
  readonly notifier?: Notifier;
  readonly fault?: FaultInjection;
  readonly clock?: () => number;
  /**
   * Workers for jobs that belong to a step (backfill partitions), started wherever steps run.
   * Supplied by the app, since they run executors and the engine does not import them.
   */
  readonly stepChildWorkers?: (context: { connect: (name: string) => Redis; keys: EngineKeys; logger: EngineLogger }) => Promise<EngineWorker[]>;
}

export interface Runtime {
  readonly engine: Engine;
  readonly keys: EngineKeys;
  readonly queues: EngineQueues;
  readonly redis: Redis;
  readonly reconciler?: Reconciler;
  /** Opens a new subscriber connection (live progress in the CLI). */
  subscriber(): Redis;
  close(force?: boolean): Promise<void>;
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const keys = engineKeys(options.prefix);
  const connections: Redis[] = [];
  const connect = (role: 'worker' | 'command', name: string) => {
    const connection = createRedisConnection(options.redisUrl, { role, connectionName: `runbook-bot:${name}`, logger: options.logger });
    connections.push(connection);
    return connection;
  };
  const redis = connect('command', 'engine');
  const queues = createQueues(connect('command', 'queues'), keys);
  const dispatcher = new Dispatcher(queues, redis, keys);
  const engine = new Engine({ redis, keys, audit: options.audit, catalog: options.catalog, dispatcher, logger: options.logger, ...(options.clock ? { clock: options.clock } : {}) });
  const workers: EngineWorker[] = [];
  const settings = options.workerSettings;
  if (options.workers?.steps) {
    workers.push(await createStepWorker({ connection: connect('worker', 'steps'), subscriber: connect('worker', 'abort'), keys, engine, executors: options.executors, logger: options.logger, ...(settings ? { settings } : {}), ...(options.fault ? { fault: options.fault } : {}), ...(options.unavailableExecutors ? { unavailable: options.unavailableExecutors } : {}) }));
  }
  if (options.workers?.steps && options.stepChildWorkers) {
    workers.push(...(await options.stepChildWorkers({ connect: (name) => connect('worker', name), keys, logger: options.logger })));
  }
  if (options.workers?.timers) workers.push(await createTimerWorker({ connection: connect('worker', 'timers'), keys, engine, logger: options.logger, ...(settings ? { settings } : {}) }));
  if (options.workers?.notify) {
    workers.push(await createNotifyWorker({ connection: connect('worker', 'notify'), keys, notifier: options.notifier ?? (async () => undefined), logger: options.logger, ...(settings ? { settings } : {}) }));
  }
  const reconcilerOptions = typeof options.reconciler === 'object' ? options.reconciler : {};
  const reconciler = options.reconciler ? startReconciler({ engine, logger: options.logger, ...reconcilerOptions }) : undefined;
  let closing: Promise<void> | undefined;
  return {
    engine,
    keys,
    queues,
    redis,
    ...(reconciler ? { reconciler } : {}),
    subscriber: () => connect('worker', 'updates'),
    close: (force = false) =>
      (closing ??= (async () => {
        await reconciler?.stop();
        await Promise.all(workers.map((w) => w.close(force)));
        await queues.close();
        await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
      })()),
  };
}


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
import { Engine, type EngineLogger, type StartPolicy } from './engine.ts';
import { engineKeys, type EngineKeys } from './keys.ts';
import { createQueues, type EngineQueues } from './queues.ts';
import { startReconciler, type Reconciler } from './reconciler.ts';
import type { EscalationRung } from '../machines/ir.ts';
import type { SlaDefaults } from '../machines/run-types.ts';
import type { IncidentEffectHandler } from './incident-port.ts';
import { createIncidentQueues, IncidentDispatcher, type IncidentQueues } from './incident-queues.ts';
import { createIncidentEffectWorker, createIncidentTimerWorker, loggingIncidentEffectHandler } from './incident-workers.ts';
import { IncidentService } from './incidents.ts';
import type { EngineObserver } from '../observability/observer.ts';
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
  /** Metrics and tracing hooks for the engine and its workers (src/observability). @default none */
  readonly observer?: EngineObserver;
  /** Performs incident effects (Slack channel and summary, PagerDuty sync, escalations). @default logs them */
  readonly incidentEffects?: IncidentEffectHandler;
  /** Acknowledgement SLA ladder of incidents declared without one. @default [] (no escalation) */
  readonly incidentAckEscalation?: readonly EscalationRung[];
  /** SLA ladders of run approvals and manual steps whose runbook sets none. @default none */
  readonly slaDefaults?: SlaDefaults;
  /** Decides every run start (policy as code). @default every run allowed */
  readonly policy?: StartPolicy;
}

export interface Runtime {
  readonly engine: Engine;
  readonly keys: EngineKeys;
  readonly queues: EngineQueues;
  readonly redis: Redis;
  readonly reconciler?: Reconciler;
  /** Incidents (issue 6): declare, move, look up; their workers run where the notify worker runs. */
  readonly incidents: IncidentService;
  readonly incidentQueues: IncidentQueues;
  readonly incidentReconciler?: Reconciler;
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
  const incidentQueues = createIncidentQueues(connect('command', 'incident-queues'), keys);
  const incidents = new IncidentService({ redis, keys, audit: options.audit, dispatcher: new IncidentDispatcher(incidentQueues), logger: options.logger, ...(options.clock ? { clock: options.clock } : {}), ...(options.incidentAckEscalation ? { ackEscalation: options.incidentAckEscalation } : {}), ...(options.observer ? { observer: options.observer } : {}) });
  const engine = new Engine({ redis, keys, audit: options.audit, catalog: options.catalog, dispatcher, logger: options.logger, ...(options.clock ? { clock: options.clock } : {}), ...(options.observer ? { observer: options.observer } : {}), onOutboxDrained: (runId, entry) => incidents.recordRunTransition(runId, entry), ...(options.slaDefaults ? { slaDefaults: options.slaDefaults } : {}), ...(options.policy ? { policy: options.policy } : {}) });
  const workers: EngineWorker[] = [];
  const settings = options.workerSettings;
  if (options.workers?.steps) {
    workers.push(await createStepWorker({ connection: connect('worker', 'steps'), subscriber: connect('worker', 'abort'), keys, engine, executors: options.executors, logger: options.logger, ...(options.observer ? { observer: options.observer } : {}), ...(settings ? { settings } : {}), ...(options.fault ? { fault: options.fault } : {}), ...(options.unavailableExecutors ? { unavailable: options.unavailableExecutors } : {}) }));
  }
  if (options.workers?.steps && options.stepChildWorkers) {
    workers.push(...(await options.stepChildWorkers({ connect: (name) => connect('worker', name), keys, logger: options.logger })));
  }
  if (options.workers?.timers) workers.push(await createTimerWorker({ connection: connect('worker', 'timers'), keys, engine, logger: options.logger, ...(options.observer ? { observer: options.observer } : {}), ...(settings ? { settings } : {}) }));
  if (options.workers?.notify) {
    workers.push(await createNotifyWorker({ connection: connect('worker', 'notify'), keys, notifier: options.notifier ?? (async () => undefined), logger: options.logger, ...(options.observer ? { observer: options.observer } : {}), ...(settings ? { settings } : {}) }));
    workers.push(await createIncidentEffectWorker({ connection: connect('worker', 'incident-effects'), keys, handler: options.incidentEffects ?? loggingIncidentEffectHandler(options.logger), logger: options.logger, ...(settings ? { settings } : {}) }));
    workers.push(await createIncidentTimerWorker({ connection: connect('worker', 'incident-timers'), keys, incidents, logger: options.logger, ...(settings ? { settings } : {}) }));
  }
  const reconcilerOptions = typeof options.reconciler === 'object' ? options.reconciler : {};
  const reconciler = options.reconciler ? startReconciler({ engine, logger: options.logger, ...reconcilerOptions }) : undefined;
  const incidentReconciler = options.reconciler ? startReconciler({ engine: incidents, logger: options.logger, ...reconcilerOptions }) : undefined;
  let closing: Promise<void> | undefined;
  return {
    engine,
    keys,
    queues,
    redis,
    ...(reconciler ? { reconciler } : {}),
    incidents,
    incidentQueues,
    ...(incidentReconciler ? { incidentReconciler } : {}),
    subscriber: () => connect('worker', 'updates'),
    close: (force = false) =>
      (closing ??= (async () => {
        await reconciler?.stop();
        await incidentReconciler?.stop();
        await Promise.all(workers.map((w) => w.close(force)));
        await queues.close();
        await incidentQueues.close();
        await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
      })()),
  };
}


/**
 * Workers of the incident queues: `incident-effects` hands each effect to the app's
 * {@link IncidentEffectHandler} (Slack and PagerDuty live outside the engine), `incident-timers`
 * turns a due SLA timer into `timer.fired`. Both are at-least-once: the handler must be
 * idempotent per job (`incidentId` + `version` + effect), and a repeated `timer.fired` is ignored
 * by the machine.
 */
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EngineLogger } from './engine.ts';
import type { IncidentEffectHandler, IncidentEffectJob, Incidents } from './incident-port.ts';
import { INCIDENT_QUEUE_NAMES, type IncidentTimerJob } from './incident-queues.ts';
import type { EngineKeys } from './keys.ts';
import { DEFAULT_WORKER_SETTINGS, type EngineWorker, type WorkerSettings } from './workers.ts';

export interface IncidentWorkerOptions {
  readonly connection: Redis;
  readonly keys: EngineKeys;
  readonly logger: EngineLogger;
  readonly settings?: Partial<WorkerSettings>;
}

function workerOptions(options: IncidentWorkerOptions) {
  const settings = { ...DEFAULT_WORKER_SETTINGS, ...options.settings };
  return {
    connection: options.connection,
    prefix: options.keys.queuePrefix,
    concurrency: settings.concurrency,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
  };
}

export async function createIncidentEffectWorker(options: IncidentWorkerOptions & { readonly handler: IncidentEffectHandler }): Promise<EngineWorker> {
  const worker = new Worker<IncidentEffectJob>(INCIDENT_QUEUE_NAMES.effects, async (job) => options.handler(job.data), workerOptions(options));
  worker.on('error', (error) => options.logger.warn({ err: error.message }, 'incident effect worker error'));
  worker.on('failed', (job, error) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      options.logger.error({ incidentId: job.data.incidentId, effect: job.data.effect.kind, err: error.message }, 'an incident effect failed for good');
    }
  });
  return closable(worker);
}

export async function createIncidentTimerWorker(options: IncidentWorkerOptions & { readonly incidents: Pick<Incidents, 'send'> }): Promise<EngineWorker> {
  const worker = new Worker<IncidentTimerJob>(
    INCIDENT_QUEUE_NAMES.timers,
    async (job) => {
      const result = await options.incidents.send(job.data.incidentId, { type: 'timer.fired', timerId: job.data.timerId });
      return { applied: result.applied, ...(result.reason ? { reason: result.reason } : {}) };
    },
    workerOptions(options),
  );
  worker.on('error', (error) => options.logger.warn({ err: error.message }, 'incident timer worker error'));
  return closable(worker);
}

/** Logs what it would do: the runtime's handler until the Slack and PagerDuty sides are wired. */
export function loggingIncidentEffectHandler(logger: EngineLogger): IncidentEffectHandler {
  return async (job) => {
    logger.info({ incidentId: job.incidentId, version: job.version, effect: job.effect.kind }, 'incident effect (no handler configured)');
  };
}

function closable(worker: Worker): EngineWorker {
  let closing: Promise<void> | undefined;
  return { worker, close: (force = false) => (closing ??= worker.close(force)) };
}

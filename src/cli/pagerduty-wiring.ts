/**
 * Wiring of the PagerDuty side of incidents (issue 6) into the processes:
 *
 * - web: the `POST /pagerduty/webhook` route and the `pagerduty-events` queue it fills
 *   ({@link pagerDutyWebhookRoutes});
 * - worker (where the notify worker runs): the `pagerduty-events` worker with its own runbook
 *   catalog ({@link startPagerDutyEventsWorker}), the findings notifier part
 *   ({@link pagerDutyFindingsPart}) and the PagerDuty part of the incident effect handler
 *   ({@link pagerDutyIncidentEffectPart}).
 */
import { existsSync } from 'node:fs';
import { createRunbookCatalog } from '../bot/catalog.ts';
import type { IncidentEffectPart } from '../bot/incident-effects.ts';
import { createPagerDutyIncidentEffects, PAGERDUTY_EFFECT_KINDS } from '../bot/incident-pagerduty.ts';
import { createPagerDutyEventHandler, createPagerDutyEventsWorker } from '../bot/pagerduty-events.ts';
import { createPagerDutyFindingsNotifier } from '../bot/pagerduty-findings.ts';
import { createPagerDutyEventsQueue } from '../bot/pagerduty-queue.ts';
import { pagerDutyWebhookRoute } from '../bot/pagerduty-webhook.ts';
import type { NotifierPart } from '../bot/notifier-composite.ts';
import type { WebRoute } from '../bot/web-routes.ts';
import type { EngineLogger } from '../engine/engine.ts';
import type { IncidentEffectHandler } from '../engine/incident-port.ts';
import type { Runtime } from '../engine/runtime.ts';
import { createPagerDutyClient } from '../integrations/pagerduty.ts';
import { createRedisConnection } from '../integrations/redis.ts';
import type { ExecutorCatalog } from '../machines/executor-spec.ts';
import type { AppConfig } from './config.ts';
import { collectRunbookFiles, readRunbookFile } from './runbook-files.ts';

type Wiring = { readonly config: AppConfig; readonly runtime: Runtime; readonly logger: EngineLogger };

/**
 * The webhook route for the web process. Without `PAGERDUTY_WEBHOOK_SECRET` the route answers 503
 * and a warning is logged now, at start.
 */
export function pagerDutyWebhookRoutes({ config, runtime, logger }: Wiring): { routes: WebRoute[]; close(): Promise<void> } {
  const secrets = config.pagerDutyWebhookSecrets ?? [];
  if (secrets.length === 0) logger.warn({ route: 'POST /pagerduty/webhook' }, 'PAGERDUTY_WEBHOOK_SECRET is not set: PagerDuty webhooks are answered 503 until it is');
  const queue = createPagerDutyEventsQueue(runtime.redis, runtime.keys.queuePrefix);
  return {
    routes: [pagerDutyWebhookRoute({ secrets, redis: runtime.redis, prefix: config.redisPrefix, queue, logger })],
    close: () => queue.close(),
  };
}

/** The `pagerduty-events` worker, on a connection of its own, with a runbook catalog read from `RUNBOOKS_DIR`. */
export async function startPagerDutyEventsWorker({ config, runtime, logger }: Wiring, redisUrl: string, catalog: ExecutorCatalog): Promise<{ close(force?: boolean): Promise<void> }> {
  // `runbook run` starts these workers too, often where no RUNBOOKS_DIR exists: nothing to auto-start then.
  const runbooks = existsSync(config.runbooksDir)
    ? await createRunbookCatalog({ load: async () => Promise.all((await collectRunbookFiles([config.runbooksDir])).map((file) => readRunbookFile(file, catalog))), logger })
    : { entries: () => [] };
  const connection = createRedisConnection(redisUrl, { role: 'worker', connectionName: 'runbook-bot:pagerduty-events', logger });
  const worker = createPagerDutyEventsWorker({
    connection,
    queuePrefix: runtime.keys.queuePrefix,
    handle: createPagerDutyEventHandler({ incidents: runtime.incidents, engine: runtime.engine, catalog: runbooks, logger }),
    logger,
  });
  let closing: Promise<void> | undefined;
  return {
    close: (force = false) => (closing ??= worker.close(force).then(() => connection.quit().then(() => undefined, () => connection.disconnect()))),
  };
}

/** The notify-queue part that posts auto-started runs' findings. */
export function pagerDutyFindingsPart({ config, runtime, logger }: Wiring): NotifierPart {
  return {
    name: 'findings',
    accepts: (job) => job.effect.kind === 'approval.request' || job.effect.kind === 'manual.request' || job.effect.kind === 'run.finished',
    notifier: createPagerDutyFindingsNotifier({
      engine: runtime.engine,
      ...(config.pagerDuty ? { pagerDuty: createPagerDutyClient(config.pagerDuty) } : {}),
      incidents: runtime.incidents,
      incidentEffects: runtime.incidentQueues.effects,
      redis: runtime.redis,
      prefix: config.redisPrefix,
      logger,
    }),
  };
}

/** The PagerDuty part of the incident effect handler; undefined without `PAGERDUTY_TOKEN`. */
export function pagerDutyIncidentEffectPart({ config, runtime, logger }: Wiring): IncidentEffectPart | undefined {
  if (!config.pagerDuty) return undefined;
  return {
    kinds: PAGERDUTY_EFFECT_KINDS,
    handle: createPagerDutyIncidentEffects({ pagerDuty: createPagerDutyClient(config.pagerDuty), incidents: runtime.incidents, redis: runtime.redis, prefix: config.redisPrefix, logger }),
  };
}

/**
 * An incident effect handler to give `createRuntime` before its parts can be built (they need the
 * runtime's incidents and Redis). Jobs before `bind` fail retryably and BullMQ retries them.
 */
export function lateBoundIncidentEffects(): { readonly handler: IncidentEffectHandler; bind(target: IncidentEffectHandler): void } {
  let target: IncidentEffectHandler | undefined;
  return {
    handler: (job) => (target ? target(job) : Promise.reject(Object.assign(new Error('the incident effect handler is not bound yet; the job will be retried'), { code: 'handler_not_ready', retryable: true }))),
    bind: (next) => {
      target = next;
    },
  };
}

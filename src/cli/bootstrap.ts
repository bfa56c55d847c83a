/**
 * Starts what a CLI command needs: Redis (REDIS_URL, or a private embedded one), the audit store,
 * the executors, and the engine runtime with the workers the command asks for.
 */
import { mkdirSync } from 'node:fs';
import { openAuditStore, type AuditStore } from '../audit/index.ts';
import { createExecutorRegistry } from '../executors/registry.ts';
import { createBackfillPartitionWorker } from '../executors/backfill-worker.ts';
import { createExecutorCatalog } from '../executors/specs.ts';
import { TEST_EXECUTOR_SPECS } from '../executors/testing.ts';
import type { EngineLogger } from '../engine/engine.ts';
import { createRuntime, type Runtime, type RuntimeOptions } from '../engine/runtime.ts';
import { engineKeys } from '../engine/keys.ts';
import { createRedisConnection, resolveRedis, type ResolvedRedis } from '../integrations/redis.ts';
import { createHostResolver } from '../sandbox/hosts.ts';
import { createSlackClient } from '../integrations/slack.ts';
import { createSlackNotifier, lateBoundNotifier } from '../bot/notifier.ts';
import { composeNotifiers } from '../bot/notifier-composite.ts';
import { createEscalationNotifier, isEscalationOrClosingJob } from '../bot/escalations.ts';
import { createPagerDutyClient } from '../integrations/pagerduty.ts';
import { composeIncidentEffectHandlers } from '../bot/incident-effects.ts';
import { slackIncidentEffectPart } from './slack-incident-wiring.ts';
import { lateBoundIncidentEffects, pagerDutyFindingsPart, pagerDutyIncidentEffectPart, startPagerDutyEventsWorker } from './pagerduty-wiring.ts';
import type { ExecutorCatalog } from '../machines/executor-spec.ts';
import type { AppConfig } from './config.ts';
import { loadAppPolicy } from './commands/policy.ts';
import { createStartPolicy, hostAllowlist, type Policy } from '../policy/index.ts';

export interface App {
  readonly config: AppConfig;
  readonly runtime: Runtime;
  readonly audit: AuditStore;
  readonly catalog: ExecutorCatalog;
  readonly redis: ResolvedRedis;
  /** `POLICY_FILE`, or the built-in defaults. */
  readonly policy: Policy;
  close(force?: boolean): Promise<void>;
}

/** The executor catalog for this configuration (what `lint` and the engine accept). */
export function catalogFor(config: Pick<AppConfig, 'testExecutors'>): ExecutorCatalog {
  return createExecutorCatalog(config.testExecutors ? TEST_EXECUTOR_SPECS : []);
}

export async function startApp(config: AppConfig, logger: EngineLogger, options: Pick<RuntimeOptions, 'workers' | 'reconciler' | 'notifier' | 'observer'> = {}): Promise<App> {
  // An invalid policy refuses the start before anything is opened.
  const policy = await loadAppPolicy(config.policyFile, logger);
  const allowHost = hostAllowlist(policy);
  mkdirSync(config.dataDir, { recursive: true });
  const redis = await resolveRedis(config.redisUrl ? { REDIS_URL: config.redisUrl } : {}, { dataDir: config.dataDir, logger });
  const audit = await openAuditStore({
    dataDir: config.dataDir,
    schema: config.audit.schema,
    ...(config.audit.databaseUrl ? { databaseUrl: config.audit.databaseUrl } : {}),
    ...(config.audit.signingKey ? { signingKey: config.audit.signingKey } : {}),
  });
  const catalog = catalogFor(config);
  const testConnection = config.testExecutors ? createRedisConnection(redis.url, { role: 'command', connectionName: 'runbook-bot:test-executors' }) : undefined;
  const backfillConnection = createRedisConnection(redis.url, { role: 'worker', connectionName: 'runbook-bot:backfill' });
  const built = createExecutorRegistry({
    targetsFile: config.targetsFile,
    ...(allowHost ? { allowHost } : {}),
    ...(config.sandboxHosts ? { resolveUrl: createHostResolver(config.sandboxHosts) } : {}),
    ...(config.slack ? { slack: config.slack } : {}),
    ...(config.pagerDuty ? { pagerDuty: config.pagerDuty } : {}),
    ...(config.pagerDutyDefaultService ? { pagerDutyDefaultService: config.pagerDutyDefaultService } : {}),
    backfill: { connection: backfillConnection, prefix: engineKeys(config.redisPrefix).queuePrefix },
    ...(testConnection ? { testExecutors: { redis: testConnection, prefix: config.redisPrefix } } : {}),
  });
  const registry = built.executors;
  // The run-message notifier needs the runtime's engine, Redis and notify queue, which exist only
  // once the runtime does: the runtime gets a late-bound notifier, bound right after.
  const slackNotifier = (config.slack || config.pagerDuty) && options.workers?.notify && !options.notifier ? lateBoundNotifier() : undefined;
  // Incident effects (Slack, PagerDuty) need the runtime's incidents: late-bound like the notifier.
  const incidentEffects = options.workers?.notify ? lateBoundIncidentEffects() : undefined;
  const runtime = await createRuntime({
    redisUrl: redis.url,
    prefix: config.redisPrefix,
    audit,
    catalog,
    executors: registry,
    unavailableExecutors: built.unavailable,
    logger,
    workerSettings: { concurrency: config.workerConcurrency },
    stepChildWorkers: async ({ connect, keys, logger: log }) => [
      await createBackfillPartitionWorker({ connection: connect('backfill'), prefix: keys.queuePrefix, executors: () => registry, logger: log }),
    ],
    ...(config.fault && testConnection ? { fault: faultInjection(config.fault, testConnection, config.redisPrefix) } : {}),
    ...(slackNotifier ? { notifier: slackNotifier.notifier } : {}),
    ...(incidentEffects ? { incidentEffects: incidentEffects.handler } : {}),
    policy: createStartPolicy(policy),
    ...(policy.sla.approval.length > 0 || policy.sla.manual.length > 0 ? { slaDefaults: { approval: policy.sla.approval, manual: policy.sla.manual } } : {}),
    ...(policy.sla.incidentAck.length > 0 ? { incidentAckEscalation: policy.sla.incidentAck } : {}),
    ...options,
  });
  if (slackNotifier) {
    // No client retries (a resent post duplicates) and 429s surface to the notifier, which reschedules.
    const slack = config.slack ? createSlackClient({ ...config.slack, retries: 0, rejectRateLimitedCalls: true }) : undefined;
    slackNotifier.bind(composeNotifiers([
      ...(slack ? [{ name: 'slack', notifier: createSlackNotifier({ slack, redis: runtime.redis, prefix: config.redisPrefix, engine: runtime.engine, queue: runtime.queues.notify, incidents: runtime.incidents, logger }) }] : []),
      { name: 'escalations', accepts: isEscalationOrClosingJob, notifier: createEscalationNotifier({ ...(slack ? { slack } : {}), ...(config.pagerDuty ? { pagerduty: createPagerDutyClient(config.pagerDuty) } : {}), ...(config.pagerDutyDefaultService ? { defaultService: config.pagerDutyDefaultService } : {}), redis: runtime.redis, prefix: config.redisPrefix, engine: runtime.engine, incidents: runtime.incidents, logger }) },
      pagerDutyFindingsPart({ config, runtime, logger }),
    ]));
  }
  const pagerDutyPart = pagerDutyIncidentEffectPart({ config, runtime, logger });
  const slackIncidentPart = slackIncidentEffectPart({ config, runtime, logger });
  incidentEffects?.bind(composeIncidentEffectHandlers([...(slackIncidentPart ? [slackIncidentPart] : []), ...(pagerDutyPart ? [pagerDutyPart] : [])], logger));
  // PagerDuty webhook events are worked where notifications are (the web process only enqueues them).
  const pagerDutyEvents = options.workers?.notify ? await startPagerDutyEventsWorker({ config, runtime, logger }, redis.url, catalog) : undefined;
  let closing: Promise<void> | undefined;
  return {
    config,
    runtime,
    audit,
    catalog,
    redis,
    policy,
    close: (force = false) =>
      (closing ??= (async () => {
        await pagerDutyEvents?.close(force);
        await runtime.close(force);
        await built.close();
        await backfillConnection.quit().catch(() => undefined);
        await testConnection?.quit().catch(() => undefined);
        await audit.close();
        await redis.embedded?.stop();
      })()),
  };
}

function faultInjection(fault: NonNullable<AppConfig['fault']>, redis: ReturnType<typeof createRedisConnection>, prefix: string) {
  return {
    ...fault,
    claim: async (runId: string) => (await redis.set(`${prefix}:fault:${fault.point}:${runId}:${fault.stepId}`, '1', 'NX')) === 'OK',
  };
}

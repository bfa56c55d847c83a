/**
 * Starts what a CLI command needs: Redis (REDIS_URL, or a private embedded one), the audit store,
 * the executors, and the engine runtime with the workers the command asks for.
 */
import { mkdirSync } from 'node:fs';
import { auditStorePath, openSqliteAuditStore, type AuditStore } from '../audit/index.ts';
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
import type { ExecutorCatalog } from '../machines/executor-spec.ts';
import type { AppConfig } from './config.ts';

export interface App {
  readonly config: AppConfig;
  readonly runtime: Runtime;
  readonly audit: AuditStore;
  readonly catalog: ExecutorCatalog;
  readonly redis: ResolvedRedis;
  close(force?: boolean): Promise<void>;
}

/** The executor catalog for this configuration (what `lint` and the engine accept). */
export function catalogFor(config: Pick<AppConfig, 'testExecutors'>): ExecutorCatalog {
  return createExecutorCatalog(config.testExecutors ? TEST_EXECUTOR_SPECS : []);
}

export async function startApp(config: AppConfig, logger: EngineLogger, options: Pick<RuntimeOptions, 'workers' | 'reconciler' | 'notifier'> = {}): Promise<App> {
  mkdirSync(config.dataDir, { recursive: true });
  const redis = await resolveRedis(config.redisUrl ? { REDIS_URL: config.redisUrl } : {}, { dataDir: config.dataDir, logger });
  const audit = openSqliteAuditStore({ path: auditStorePath(config.dataDir) });
  const catalog = catalogFor(config);
  const testConnection = config.testExecutors ? createRedisConnection(redis.url, { role: 'command', connectionName: 'runbook-bot:test-executors' }) : undefined;
  const backfillConnection = createRedisConnection(redis.url, { role: 'worker', connectionName: 'runbook-bot:backfill' });
  const built = createExecutorRegistry({
    targetsFile: config.targetsFile,
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
  const slackNotifier = config.slack && options.workers?.notify && !options.notifier ? lateBoundNotifier() : undefined;
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
    ...options,
  });
  if (slackNotifier && config.slack) {
    slackNotifier.bind(createSlackNotifier({
      // No client retries (a resent post duplicates) and 429s surface to the notifier, which reschedules.
      slack: createSlackClient({ ...config.slack, retries: 0, rejectRateLimitedCalls: true }),
      redis: runtime.redis,
      prefix: config.redisPrefix,
      engine: runtime.engine,
      queue: runtime.queues.notify,
      logger,
    }));
  }
  let closing: Promise<void> | undefined;
  return {
    config,
    runtime,
    audit,
    catalog,
    redis,
    close: (force = false) =>
      (closing ??= (async () => {
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

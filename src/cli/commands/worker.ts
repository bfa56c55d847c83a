/**
 * `runbook worker` (Procfile `worker`): runs step, timer and notify workers and the reconciler.
 * SIGTERM drains in-flight work and exits; a second SIGTERM (or SIGINT) forces.
 */
import type { AppConfig } from '../config.ts';
import type { CliIo } from '../io.ts';
import { createLogger } from '../logger.ts';
import { startApp } from '../bootstrap.ts';
import { untilSignalled } from '../shutdown.ts';
import { startDigestTimer } from '../../audit/digest-timer.ts';
import { CliError } from '../cli-error.ts';
import { startMetricsServer } from '../../observability/metrics-server.ts';
import { createProcessObservability, observabilitySettingsFromEnv } from '../../observability/setup.ts';

export async function workerCommand(config: AppConfig, io: CliIo): Promise<number> {
  const logger = createLogger(config.logLevel, io.stderr, { process: 'worker', pid: process.pid });
  const observed = observabilitySettingsFromEnv(io.env);
  if (observed.problems.length > 0) throw new CliError('config_invalid', observed.problems.join('\n'));
  const observability = await createProcessObservability('worker', observed.settings);
  const app = await startApp(config, logger, { workers: { steps: true, timers: true, notify: true }, reconciler: true, observer: observability.observer });
  observability.watch(app.runtime);
  // METRICS_PORT: the worker's own `/metrics` (the web process serves it on PORT).
  const metricsServer = observed.settings.metricsPort === undefined ? undefined : await startMetricsServer({ metrics: observability.metrics, port: observed.settings.metricsPort }).catch(async (error: unknown) => {
    await app.close();
    throw new CliError('metrics_port_unavailable', `cannot serve /metrics on METRICS_PORT=${observed.settings.metricsPort}: ${error instanceof Error ? error.message : String(error)}`);
  });
  if (metricsServer) logger.info({ metrics: metricsServer.url }, 'serving /metrics');
  logger.info({ redis: app.redis.embedded ? 'embedded' : 'REDIS_URL', prefix: config.redisPrefix, concurrency: config.workerConcurrency }, 'worker ready');
  // Periodic signed digests of the audit chain (src/audit/digest-timer.ts): idempotent per period across workers.
  const digests = config.audit.signingKey
    ? startDigestTimer({ store: app.audit, intervalMs: config.audit.digestIntervalMs, onError: (error) => logger.warn({ err: String(error) }, 'audit digest failed; retrying next period') })
    : undefined;
  return untilSignalled(logger, async (force) => {
    await digests?.stop();
    await metricsServer?.close();
    await observability.close();
    await app.close(force);
  }, 'draining in-flight work, then exiting (send again to force)');
}

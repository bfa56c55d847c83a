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

export async function workerCommand(config: AppConfig, io: CliIo): Promise<number> {
  const logger = createLogger(config.logLevel, io.stderr, { process: 'worker', pid: process.pid });
  const app = await startApp(config, logger, { workers: { steps: true, timers: true, notify: true }, reconciler: true });
  logger.info({ redis: app.redis.embedded ? 'embedded' : 'REDIS_URL', prefix: config.redisPrefix, concurrency: config.workerConcurrency }, 'worker ready');
  // Periodic signed digests of the audit chain (src/audit/digest-timer.ts): idempotent per period across workers.
  const digests = config.audit.signingKey
    ? startDigestTimer({ store: app.audit, intervalMs: config.audit.digestIntervalMs, onError: (error) => logger.warn({ err: String(error) }, 'audit digest failed; retrying next period') })
    : undefined;
  return untilSignalled(logger, async (force) => {
    await digests?.stop();
    await app.close(force);
  }, 'draining in-flight work, then exiting (send again to force)');
}

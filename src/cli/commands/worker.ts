/**
 * `runbook worker` (Procfile `worker`): runs step, timer and notify workers and the reconciler.
 * SIGTERM drains in-flight work and exits; a second SIGTERM (or SIGINT) forces.
 */
import type { AppConfig } from '../config.ts';
import type { CliIo } from '../io.ts';
import { createLogger } from '../logger.ts';
import { startApp } from '../bootstrap.ts';

export async function workerCommand(config: AppConfig, io: CliIo): Promise<number> {
  const logger = createLogger(config.logLevel, io.stderr, { process: 'worker', pid: process.pid });
  const app = await startApp(config, logger, { workers: { steps: true, timers: true, notify: true }, reconciler: true });
  logger.info({ redis: app.redis.embedded ? 'embedded' : 'REDIS_URL', prefix: config.redisPrefix, concurrency: config.workerConcurrency }, 'worker ready');
  return new Promise<number>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals) => {
      signals += 1;
      const force = signals > 1;
      logger.info({ signal, force }, force ? 'forcing shutdown' : 'draining in-flight work, then exiting (send again to force)');
      void app.close(force).then(
        () => resolve(force ? 1 : 0),
        (error: unknown) => {
          logger.error({ err: String(error) }, 'shutdown failed');
          resolve(1);
        },
      );
      if (force) setTimeout(() => process.exit(1), 2_000).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/**
 * How long-running commands (`worker`, `web`) stop: the first SIGTERM or SIGINT closes gracefully
 * (in-flight work drains), a second one forces and exits within two seconds.
 */
import type { EngineLogger } from '../engine/engine.ts';

/** Resolves with the exit code once `close` has finished after a signal (0 graceful, 1 forced or failed). */
export function untilSignalled(logger: EngineLogger, close: (force: boolean) => Promise<void>, drainingMessage: string): Promise<number> {
  return new Promise<number>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals) => {
      signals += 1;
      const force = signals > 1;
      logger.info({ signal, force }, force ? 'forcing shutdown' : drainingMessage);
      void close(force).then(
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

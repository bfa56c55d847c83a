/**
 * The reconciler drains outboxes that a crash left behind (committed transitions whose audit
 * records or effects were never dispatched). It runs at start and then periodically; draining is
 * idempotent, so two reconcilers in two processes are harmless.
 */
import type { EngineLogger } from './engine.ts';

/** What the reconciler drains: the engine's runs, or the incident service's incidents. */
export interface OutboxOwner {
  readonly store: { pendingOutboxes(before: number, limit?: number): Promise<string[]> };
  drain(id: string): Promise<void>;
}

export interface ReconcilerOptions {
  readonly engine: OutboxOwner;
  readonly logger: EngineLogger;
  /** How often to look. @default 2000 */
  readonly intervalMs?: number;
  /** Outboxes younger than this are left to the process that wrote them. @default 1000 */
  readonly graceMs?: number;
  readonly clock?: () => number;
}

export interface Reconciler {
  /** One pass; returns how many runs it drained. */
  reconcile(): Promise<number>;
  stop(): Promise<void>;
}

export function startReconciler(options: ReconcilerOptions): Reconciler {
  const clock = options.clock ?? Date.now;
  const graceMs = options.graceMs ?? 1_000;
  let running: Promise<number> | undefined;
  let stopped = false;

  const reconcile = async (): Promise<number> => {
    const runIds = await options.engine.store.pendingOutboxes(clock() - graceMs);
    for (const runId of runIds) {
      try {
        await options.engine.drain(runId);
      } catch (error) {
        options.logger.warn({ runId, err: error instanceof Error ? error.message : String(error) }, 'could not drain an outbox; will retry');
      }
    }
    if (runIds.length > 0) options.logger.info({ runs: runIds.length }, 'reconciler drained outboxes');
    return runIds.length;
  };
  const tick = () => {
    if (stopped || running) return;
    running = reconcile()
      .catch((error: unknown) => {
        options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'reconciler pass failed');
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
  };
  tick();
  // Not a durable deadline, only a sweep: a lost tick is made up by the next one.
  const timer = setInterval(tick, options.intervalMs ?? 2_000);
  timer.unref();
  return {
    reconcile,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The periodic digest: every `intervalMs` (default hourly, `AUDIT_DIGEST_INTERVAL`) the worker
 * appends an `audit.digest` record signing the chain head, so even a log with no finished runs
 * gets signed checkpoints.
 *
 * A plain interval, not a BullMQ job or a Redis lock: the digest id is the period number
 * (`digest.periodic.<floor(now / intervalMs)>`) and appends are idempotent by id, so however many
 * workers run, on however many hosts, each period gets at most one periodic digest; a missed tick
 * (no worker running) loses nothing but that checkpoint, and the next process to start signs the
 * head at once. An idle log (head already a digest) gets no new digest.
 */
import type { AuditStore } from './store.ts';

/** Options of {@link startDigestTimer}. */
export interface DigestTimerOptions {
  readonly store: Pick<AuditStore, 'appendDigest'>;
  /**
   * Time between digests.
   * @default 3_600_000 (an hour)
   */
  readonly intervalMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Told about failed attempts (the next tick tries again). */
  readonly onError?: (error: unknown) => void;
}

/** A running periodic digest; `stop()` is idempotent and waits for an append in flight. */
export interface DigestTimer {
  /** Appends this period's digest now (also what each tick does); resolves the digest or `undefined`. */
  tick(): Promise<unknown>;
  stop(): Promise<void>;
}

/** Starts the periodic digest and appends the current period's one right away. */
export function startDigestTimer(options: DigestTimerOptions): DigestTimer {
  const { store, intervalMs = 3_600_000, now = Date.now, onError = () => undefined } = options;
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1000) throw new RangeError(`startDigestTimer: expected intervalMs of at least 1000, received ${String(intervalMs)}`);
  let inFlight: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    const at = now();
    inFlight = store.appendDigest({ id: `digest.periodic.${Math.floor(at / intervalMs)}`, at, reason: 'periodic' }).catch((error: unknown) => {
      onError(error);
      return undefined;
    });
    return inFlight;
  };
  const timer = setInterval(() => { if (!stopped) void tick(); }, intervalMs);
  timer.unref();
  void tick();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}

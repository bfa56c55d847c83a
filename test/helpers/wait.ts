/**
 * Polling for tests: wait until something a user or another process can observe has happened
 * (a Slack post, a run settled, an incident declared), failing with a message naming what did not.
 */

/** What a probe returns while the awaited thing has not happened yet. */
export type NotYet = undefined | null | false;

/** A probe: the awaited value once it is there, else {@link NotYet}. */
export type Probe<T> = () => T | NotYet | Promise<T | NotYet>;

export interface WaitOptions {
  /**
   * How long to keep polling before failing.
   * @default 15_000
   */
  readonly timeoutMs?: number;
  /**
   * Pause between two probes.
   * @default 25
   */
  readonly intervalMs?: number;
  /** Diagnostics appended to the timeout error, e.g. the tail of a process's output. */
  readonly describe?: () => string;
}

/**
 * Probes until it returns a value other than `undefined`, `null` or `false`, and resolves with
 * that value. Rejects with `timed out after <n> ms waiting for <what>` (plus `describe()`) when
 * `timeoutMs` passes first; an error thrown by the probe rejects at once.
 */
export async function until<T>(probe: Probe<T>, what: string, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 15_000, intervalMs = 25, describe } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) {
      const details = describe?.();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${details ? `\n${details}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * {@link until} with a test file's own defaults (its usual timeout, its diagnostics), which each
 * call can still override: `const waitFor = waiter({ timeoutMs: 20_000, describe: () => … })`.
 */
export function waiter(defaults: WaitOptions): <T>(probe: Probe<T>, what: string, options?: WaitOptions) => Promise<T> {
  return (probe, what, options = {}) => until(probe, what, { ...defaults, ...options });
}

/** The last `maxChars` characters of a process's output, labelled, for {@link WaitOptions.describe}. */
export function outputTail(name: string, output: () => string, maxChars = 4_000): () => string {
  return () => `${name} output (last ${maxChars} chars):\n${output().slice(-maxChars)}`;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

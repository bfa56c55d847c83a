/**
 * The executor contract: one function, `run(input, ctx)`, with plain-JSON input and output, an
 * AbortSignal, and an idempotency key that is the same every time BullMQ redelivers the attempt
 * (delivery is at least once: a worker killed mid-step has its job run again).
 */
import type { ExecutorSpec } from '../machines/executor-spec.ts';
import { CodedError } from '../shared/coded-error.ts';

export interface ExecutorLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface ExecutorContext {
  /** Aborted when the run is cancelled or the step times out: stop and clean up. */
  readonly signal: AbortSignal;
  /** `runId/stepId/phase/attempt`: pass it on (SSM ClientToken, Idempotency-Key) or look for the earlier attempt's work. */
  readonly idempotencyKey: string;
  readonly runId: string;
  readonly stepId: string;
  readonly phase: 'do' | 'undo';
  readonly attempt: number;
  readonly logger: ExecutorLogger;
  /** Replaces the values of params marked `secret` in text an executor reports (outputs, errors, logs). */
  readonly redact: (text: string) => string;
  /** Reports how far a long call has got (`{ kind: 'backfill', done, failed, total }`); shown with the run. */
  readonly progress?: (progress: ExecutorProgress) => void;
}

/** Progress of a long call, plain JSON; `kind` says what the other fields mean. */
export type ExecutorProgress = { readonly kind: string } & Readonly<Record<string, unknown>>;

export interface Executor {
  readonly spec: ExecutorSpec;
  run(input: unknown, ctx: ExecutorContext): Promise<unknown>;
  /** One line per action the call would take, for `runbook plan` and `--dry-run`; runs nothing. */
  plan?(input: unknown): string[];
}

export type ExecutorRegistry = ReadonlyMap<string, Executor>;

/**
 * A failure an executor declares. `retryable` decides whether the step's `retries` apply;
 * `code` is what crosses the queue (consumers switch on it, never on the class).
 */
export class ExecutorError extends CodedError {
  constructor(code: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(code, message, options);
  }
}

/** What a failed call reports to the run: known executor errors keep their code; anything else is retryable. */
export function toStepError(error: unknown): { code: string; message: string; retryable: boolean } {
  if (error instanceof ExecutorError) return { code: error.code, message: error.message, retryable: error.retryable };
  if (error instanceof Error && error.name === 'AbortError') return { code: 'executor_aborted', message: 'the call was aborted', retryable: false };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'executor_crashed', message: message.slice(0, 2_000), retryable: true };
}

/** Resolves after `ms`, or rejects with an AbortError when `signal` fires first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(): Error {
  const error = new Error('aborted');
  error.name = 'AbortError';
  return error;
}

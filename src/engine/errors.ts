import { CodedError } from '../shared/coded-error.ts';

/** Errors the engine raises: a `code` to switch on (across processes too) and an explicit retry flag. */
export class EngineError extends CodedError {
  readonly details?: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
    this.details = options.details;
  }
}

export function isEngineError(error: unknown, code?: string): error is EngineError {
  return error instanceof EngineError && (code === undefined || error.code === code);
}

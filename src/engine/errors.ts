/** Errors the engine raises: a `code` to switch on (across processes too) and an explicit retry flag. */
export class EngineError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details?: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EngineError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

export function isEngineError(error: unknown, code?: string): error is EngineError {
  return error instanceof EngineError && (code === undefined || error.code === code);
}

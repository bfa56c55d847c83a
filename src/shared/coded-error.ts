/**
 * The one shape of an error that may cross a queue or a process (STYLE.md rule 3): a string
 * `code` to switch on (never `instanceof` across boundaries), an explicit `retryable` flag, and
 * the `cause` chained. Each layer subclasses it with its own codes.
 */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly retryable: boolean;

  constructor(code: Code, message: string, options: { readonly retryable?: boolean; readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

import { CodedError } from '../shared/coded-error.ts';

/** A problem with what the user asked the CLI to do: printed as one line each, with an exit code (2 by default). */
export class CliError extends CodedError {
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode = 2) {
    super(code, message);
    this.exitCode = exitCode;
  }
}

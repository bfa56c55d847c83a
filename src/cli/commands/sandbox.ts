/**
 * `runbook sandbox [--format env|json]`: starts every loopback stand-in (`src/sandbox/`) and prints
 * the environment that points the bot at them, then keeps them running until Ctrl-C / SIGTERM.
 * The stand-ins live in this process, so source the printed `export` lines from another terminal:
 *
 * ```sh
 * runbook sandbox > /tmp/sandbox.env &   # then, elsewhere:
 * . /tmp/sandbox.env && runbook run rollback-model --param model=model-x
 * ```
 */
import { startSandbox } from '../../sandbox/index.ts';
import type { CliIo } from '../io.ts';

/** `runbook sandbox` flags, parsed. */
export interface SandboxCommandOptions {
  /** `env`: `export NAME='value'` lines; `json`: one JSON object of the environment. */
  readonly format: 'env' | 'json';
}

/** Starts the sandbox, prints its environment, and resolves (exit 0) once a signal stops it. */
export async function sandboxCommand(options: SandboxCommandOptions, io: CliIo, signals: NodeJS.EventEmitter = process): Promise<number> {
  const sandbox = await startSandbox();
  const stopped = new Promise<void>((resolve) => {
    signals.once('SIGINT', resolve);
    signals.once('SIGTERM', resolve);
  });
  try {
    if (options.format === 'json') {
      io.stdout(`${JSON.stringify(sandbox.env, null, 2)}\n`);
    } else {
      io.stdout(Object.entries(sandbox.env).map(([name, value]) => `export ${name}=${shellQuote(value)}\n`).join(''));
    }
    io.stderr(`runbook sandbox: ${Object.keys(sandbox.hosts).length} hosts, SSM, Slack and PagerDuty stand-ins on 127.0.0.1; Ctrl-C stops them\n`);
    await stopped;
    return 0;
  } finally {
    await sandbox.close();
  }
}

/** `'value'`, with single quotes escaped, for a POSIX shell. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

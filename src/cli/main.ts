/**
 * The `runbook` command. Each subcommand parses its own flags; problems with the request itself
 * (unknown runbook, bad param, bad flag) print one line each and exit 2.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { executorCatalog } from '../executors/specs.ts';
import { CliError } from './cli-error.ts';
import { graphCommand } from './commands/graph.ts';
import { lintCommand } from './commands/lint.ts';
import { planCommand } from './commands/plan.ts';
import { processIo, type CliIo } from './io.ts';
import { loadConfig } from './config.ts';
import { workerCommand } from './commands/worker.ts';

const USAGE = `Usage: runbook <command> [options]

Runbooks are Markdown files that compile to checked state machines.

Commands:
  lint [paths…] [--format text|json]          check runbooks (default: $RUNBOOKS_DIR or ./runbooks); exit 1 on errors
  graph <runbook> [--format mermaid|json]      print the compiled state machine
  plan <runbook> [--param k=v …] [--format text|json]
                                               validate params and show every resolved call; runs nothing
  worker                                       run step, timer and notify workers (Procfile \`worker\`)
  help                                         this text

<runbook> is a file path, a runbook id (rollback-model) or its Slack command (rollback).
Environment: RUNBOOKS_DIR (default ./runbooks), DATA_DIR (./var), REDIS_URL (unset: a private
redis-server in DATA_DIR), RUNBOOK_REDIS_PREFIX (rb), WORKER_CONCURRENCY (8), LOG_LEVEL (info).
`;

type Command = (args: string[], io: CliIo) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  lint: async (args, io) => {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: 'string', default: 'text' } } });
    const format = oneOf('--format', values.format, ['text', 'json'] as const);
    const paths = positionals.length > 0 ? positionals : [runbooksDir(io)];
    return lintCommand({ paths, format }, executorCatalog, io);
  },
  graph: async (args, io) => {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: 'string', default: 'mermaid' } } });
    const name = onePositional(positionals, 'graph <runbook>');
    return graphCommand(name, oneOf('--format', values.format, ['mermaid', 'json'] as const), runbooksDir(io), executorCatalog, io);
  },
  worker: async (args, io) => {
    parseArgs({ args, allowPositionals: false, options: {} });
    return workerCommand(loadConfig(io.env, io.cwd), io);
  },
  plan: async (args, io) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { param: { type: 'string', short: 'p', multiple: true, default: [] }, format: { type: 'string', default: 'text' } },
    });
    const runbook = onePositional(positionals, 'plan <runbook> --param k=v');
    return planCommand({ runbook, params: values.param, format: oneOf('--format', values.format, ['text', 'json'] as const), runbooksDir: runbooksDir(io) }, executorCatalog, io);
  },
};

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.stdout(USAGE);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.stderr(`runbook: unknown command \`${command}\` (expected one of: ${Object.keys(COMMANDS).join(', ')}, help)\n`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (error) {
    if (error instanceof CliError) {
      for (const line of error.message.split('\n')) io.stderr(`runbook ${command}: ${line}\n`);
      return error.exitCode;
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`runbook ${command}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

function runbooksDir(io: CliIo): string {
  return resolve(io.cwd, io.env['RUNBOOKS_DIR'] ?? 'runbooks');
}

function onePositional(positionals: readonly string[], usage: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new CliError('usage', `expected exactly one runbook: runbook ${usage}`);
  return positionals[0];
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (value !== undefined && (allowed as readonly string[]).includes(value)) return value as T;
  throw new CliError('usage', `${flag} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

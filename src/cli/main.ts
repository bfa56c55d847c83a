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
import { sandboxCommand } from './commands/sandbox.ts';
import { devCommand } from './commands/dev.ts';
import { loadWebConfig, webCommand } from './commands/web.ts';
import { runCommand } from './commands/run.ts';
import { listCommand } from './commands/list.ts';
import { statusCommand } from './commands/status.ts';
import { cancelCommand } from './commands/cancel.ts';
import { decideCommand, DECISIONS, type DecisionKind } from './commands/decide.ts';
import { policyCommand } from './commands/policy.ts';
import { incidentCommand } from './commands/incident.ts';
import { parseGroups } from './local-user.ts';
import { auditCommand } from './commands/audit.ts';

const USAGE = `Usage: runbook <command> [options]

Runbooks are Markdown files that compile to checked state machines.

Commands:
  lint [paths…] [--format text|json]          check runbooks (default: $RUNBOOKS_DIR or ./runbooks); exit 1 on errors
  graph <runbook> [--format mermaid|json]      print the compiled state machine
  plan <runbook> [--param k=v …] [--format text|json]
                                               validate params and show every resolved call; runs nothing
  run <runbook> [--param k=v …] [--dry-run] [--yes] [--break-glass]
                                               run it here (engine + workers in this process), with live
                                               progress; approvals and manual steps are asked at the prompt.
                                               --yes answers them all: approves as you, marks manual steps
                                               done (a gate that forbids self-approval still waits for
                                               \`runbook approve <run> --as NAME\` from another terminal).
                                               --dry-run prints the plan and executes nothing.
                                               --break-glass: inside a change freeze, ask the policy's
                                               break-glass approvers instead of being refused.
                                               Ctrl-C offers to cancel; a second Ctrl-C leaves the run to
                                               the workers. Exit: 0 succeeded, 1 failed, 2 nothing started
                                               (bad request), 3 rolled back, 4 rejected, 5 cancelled,
                                               130 left running
  list [--limit N] [--format text|json]        recent runs, newest first (default 20)
  status <run> [--format text|json]            a run's steps: status, attempts, durations, approvers, errors
  incident declare <title> [--severity sev1|sev2|sev3]
  incident list [--limit N] [--format text|json] | show <id> [--format text|json]
  incident ack <id> | mitigate <id> [--reason TEXT] | resolve <id> [--resolution TEXT] | note <id> <text>
  incident timeline <id> [--format md|json]    incidents as \`cli:NAME\` (--as NAME; default: you); \`timeline\`
                                               prints a postmortem-ready Markdown timeline (UTC)
  cancel <run> [--reason TEXT] [--as NAME]     cancel a run
  approve <run> [step] [--as NAME] [--groups @a,@b]
  reject <run> [step] [--as NAME] [--groups @a,@b] [--reason TEXT]
                                               decide an approval as \`cli:NAME\` (default: you). Local,
                                               offline path: a CLI person is in no Slack group unless
                                               named with --groups (Slack resolves groups for real)
  done <run> [step] [--as NAME]                mark a manual step done
  skip <run> [step] [--as NAME] [--reason TEXT]
                                               skip a manual step
                                               (these exit 1 when the engine ignores the request, with why)
  worker                                       run step, timer and notify workers (Procfile \`worker\`)
  web                                          the Slack bot: Bolt at POST /slack/events, GET /healthz, /readyz
                                               (Procfile \`web\`; SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, PORT)
  sandbox [--format env|json]                  start loopback stand-ins of every outside service, print the
                                               environment that points the bot at them; Ctrl-C stops them
  dev [--demo [--exit]]                        web + workers + embedded Redis + every stand-in in one process,
                                               with a Slack look-alike console at http://localhost:$PORT/console
                                               (PORT 3000); --demo plays a scripted incident in the terminal,
                                               --exit (or DEMO_EXIT=1) stops after it (exit 1 if a stage failed)
  policy check [--file F]                      validate the policy (POLICY_FILE, default ./policy.yaml): every
                                               problem as file:line:col; exit 1 on errors
  policy explain --user U --runbook X [--groups @a,@b] [--param k=v …] [--at TIME] [--break-glass]
                                               what the policy decides for that person, runbook and time, and
                                               why: the rule, approvals needed, freeze, limits, who can help;
                                               exit 3 when it would deny
  audit list [--run ID] [--incident ID] [--runbook ID] [--actor A] [--type T|prefix.] [--since TIME] [--until TIME]
             [--limit N] [--runs] [--format text|json]
                                               audit records (or, with --runs, one line per run); TIME is ISO,
                                               epoch ms or a duration ago (2h)
  audit show <run> [--format text|json]        a run's timeline: who asked with which params, approvals,
                                               each executor call and answer, final state, runbook hash
  audit export --format jsonl|csv|md [filters] stream every matching record to stdout
  audit verify [--format text|json]            check every hash, link and digest (AUDIT_VERIFY_KEY or
                                               AUDIT_SIGNING_KEY); names the first bad record; exit 1 if tampered
  audit keygen [--alg ed25519|hmac-sha256]     a new AUDIT_SIGNING_KEY (and the reviewers' verify key)
                                               (audit commands open only the audit store: DATABASE_URL, else
                                               SQLite in DATA_DIR; no Redis needed)
  help                                         this text

<runbook> is a file path, a runbook id (rollback-model) or its Slack command (rollback).
Environment: RUNBOOKS_DIR (default ./runbooks), DATA_DIR (./var), REDIS_URL (unset: a private
redis-server in DATA_DIR), RUNBOOK_REDIS_PREFIX (rb), WORKER_CONCURRENCY (8), LOG_LEVEL (info; warn
for run, list, status and the decisions). Only one process can own DATA_DIR's embedded Redis: to use
list/status/approve… while \`runbook run\` or \`dev\` holds it, set REDIS_URL to that Redis.
`;

type Command = (args: string[], io: CliIo) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  audit: (args, io) => auditCommand(args, io),
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
  sandbox: async (args, io) => {
    const { values } = parseArgs({ args, allowPositionals: false, options: { format: { type: 'string', default: 'env' } } });
    return sandboxCommand({ format: oneOf('--format', values.format, ['env', 'json'] as const) }, io);
  },
  dev: async (args, io) => {
    const { values } = parseArgs({ args, allowPositionals: false, options: { demo: { type: 'boolean', default: false }, exit: { type: 'boolean', default: false } } });
    const exit = values.exit || ['1', 'true'].includes(io.env['DEMO_EXIT']?.trim() ?? '');
    if (values.exit && !values.demo) throw new CliError('usage', '--exit only applies with --demo: runbook dev --demo --exit');
    return devCommand({ demo: values.demo, exit }, io);
  },
  worker: async (args, io) => {
    parseArgs({ args, allowPositionals: false, options: {} });
    return workerCommand(loadConfig(io.env, io.cwd), io);
  },
  web: async (args, io) => {
    parseArgs({ args, allowPositionals: false, options: {} });
    const { config, web } = loadWebConfig(io.env, io.cwd);
    return webCommand(config, web, io);
  },
  run: async (args, io) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        param: { type: 'string', short: 'p', multiple: true, default: [] },
        'dry-run': { type: 'boolean', default: false },
        yes: { type: 'boolean', short: 'y', default: false },
        'break-glass': { type: 'boolean', default: false },
      },
    });
    const runbook = onePositional(positionals, 'run <runbook> --param k=v');
    return runCommand({ runbook, params: values.param, dryRun: values['dry-run'], yes: values.yes, ...(values['break-glass'] ? { breakGlass: true } : {}) }, io);
  },
  list: async (args, io) => {
    const { values } = parseArgs({ args, allowPositionals: false, options: { limit: { type: 'string', default: '20' }, format: { type: 'string', default: 'text' } } });
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('usage', `--limit must be a whole number from 1 to 1000; got ${JSON.stringify(values.limit)}`);
    return listCommand({ limit, format: oneOf('--format', values.format, ['text', 'json'] as const) }, io);
  },
  status: async (args, io) => {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: 'string', default: 'text' } } });
    const runId = oneRun(positionals, 'status <run>');
    return statusCommand({ runId, format: oneOf('--format', values.format, ['text', 'json'] as const) }, io);
  },
  cancel: async (args, io) => {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { reason: { type: 'string' }, as: { type: 'string' } } });
    return cancelCommand({ runId: oneRun(positionals, 'cancel <run> [--reason TEXT]'), reason: values.reason, as: values.as }, io);
  },
  ...Object.fromEntries(DECISIONS.map((kind) => [kind, decisionCommand(kind)])),
  incident: (args, io) => incidentCommand(args, io),
  policy: async (args, io) => policyCommand(args, io, executorCatalog),
  plan: async (args, io) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { param: { type: 'string', short: 'p', multiple: true, default: [] }, format: { type: 'string', default: 'text' } },
    });
    const runbook = onePositional(positionals, 'plan <runbook> --param k=v');
    const targetsFile = resolve(io.cwd, io.env['TARGETS_FILE'] ?? 'targets.yaml');
    return planCommand({ runbook, params: values.param, format: oneOf('--format', values.format, ['text', 'json'] as const), runbooksDir: runbooksDir(io), targetsFile }, executorCatalog, io);
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

function decisionCommand(kind: DecisionKind): Command {
  return async (args, io) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { as: { type: 'string' }, groups: { type: 'string' }, reason: { type: 'string' } },
    });
    const usage = `${kind} <run> [step] [--as NAME]`;
    if (positionals.length < 1 || positionals.length > 2) throw new CliError('usage', `expected a run id and optionally a step: runbook ${usage}`);
    const [runId = '', stepId] = positionals;
    if ((kind === 'done' || kind === 'skip') && values.groups !== undefined) throw new CliError('usage', `--groups only applies to approve and reject`);
    if ((kind === 'approve' || kind === 'done') && values.reason !== undefined) throw new CliError('usage', `--reason only applies to reject, skip and cancel`);
    return decideCommand({ kind, runId, stepId, as: values.as, groups: parseGroups(values.groups), reason: values.reason }, io);
  };
}

function oneRun(positionals: readonly string[], usage: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new CliError('usage', `expected exactly one run id: runbook ${usage}`);
  return positionals[0];
}

function onePositional(positionals: readonly string[], usage: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new CliError('usage', `expected exactly one runbook: runbook ${usage}`);
  return positionals[0];
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (value !== undefined && (allowed as readonly string[]).includes(value)) return value as T;
  throw new CliError('usage', `${flag} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

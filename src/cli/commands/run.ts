/**
 * `runbook run <runbook> --param k=v … [--dry-run] [--yes]`: local execution without the web
 * process. The engine and every worker run in this process (against REDIS_URL, or an embedded
 * Redis in DATA_DIR); progress, approvals and manual steps happen at the terminal, and the exit
 * code says how the run ended (see {@link EXIT_CODES}).
 */
import { formatDiagnostic } from '../../machines/diagnostics.ts';
import type { Runbook } from '../../machines/ir.ts';
import { parseParamAssignments, resolveParams } from '../../machines/params.ts';
import { planRun } from '../../machines/plan.ts';
import { catalogFor } from '../bootstrap.ts';
import { CliError } from '../cli-error.ts';
import { loadConfig } from '../config.ts';
import { connectApp, engineProblem, quietConfig } from '../connect.ts';
import type { CliIo } from '../io.ts';
import { localPerson } from '../local-user.ts';
import { processTerminal, type Terminal } from '../prompt.ts';
import { resolveRunbook } from '../runbook-files.ts';
import { RunSession } from '../run-session.ts';
import { exitCodeFor, finalLine, formatParams, redactorFor } from '../run-view.ts';
import { renderPlan } from './plan.ts';

/** `runbook run` flags, parsed. */
export interface RunOptions {
  readonly runbook: string;
  /** `k=v` assignments as given. */
  readonly params: readonly string[];
  /** Print the plan and execute nothing. */
  readonly dryRun: boolean;
  /** Answer every prompt without asking. */
  readonly yes: boolean;
  /** Declare an emergency: inside a change freeze the policy then asks for two approvers instead of refusing. */
  readonly breakGlass?: boolean;
}

/** How long a forced shutdown (second Ctrl-C) may take before the process exits anyway. */
const FORCED_EXIT_MS = 2_000;

/** Runs a runbook to its end in this process; returns the exit code. */
export async function runCommand(options: RunOptions, io: CliIo, terminal: Terminal = processTerminal()): Promise<number> {
  const config = quietConfig(loadConfig(io.env, io.cwd), io.env);
  const loaded = await resolveRunbook(options.runbook, config.runbooksDir, catalogFor(config));
  if (!loaded.runbook) {
    for (const d of loaded.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
    throw new CliError('runbook_invalid', `${loaded.file} has errors (see above); nothing was started`);
  }
  const params = checkedParams(loaded.runbook, options.params);
  if (options.dryRun) {
    io.stdout(renderPlan(planRun(loaded.runbook, params.values), loaded.file));
    return 0;
  }
  const app = await connectApp(config, io, 'run', { workers: { steps: true, timers: true, notify: true }, reconciler: true });
  let force = false;
  try {
    const requester = localPerson(io.env);
    const run = await app.runtime.engine.startRun({ file: loaded.file, source: loaded.source, params: params.raw, requester, ...(options.breakGlass ? { breakGlass: true } : {}) }).catch((error: unknown) => {
      throw engineProblem(error);
    });
    const runbook = app.runtime.engine.runbookOf(run);
    io.stdout(`Run ${run.id} started: ${runbook.title} (${runbook.id}) as ${requester.name ?? requester.id}; params: ${formatParams(run, runbook)}\n`);
    const end = await new RunSession({ app, run, runbook, requester, yes: options.yes, terminal, write: io.stdout }).follow();
    if (end.kind === 'left') {
      force = true;
      setTimeout(() => process.exit(end.exitCode), FORCED_EXIT_MS).unref();
      return end.exitCode;
    }
    io.stdout(`${finalLine(end.run, redactorFor(end.run, runbook))}\n`);
    return exitCodeFor(end.run.status);
  } finally {
    await app.close(force);
  }
}

/** Validates `k=v` params against the runbook (every problem on its own line, exit 2); the engine gets them as given. */
function checkedParams(runbook: Runbook, raw: readonly string[]): { raw: Record<string, string>; values: Readonly<Record<string, unknown>> } {
  const assignments = parseParamAssignments(raw);
  if (assignments.errors.length > 0) throw new CliError('runbook_param_invalid', assignments.errors.map((e) => `--param: ${e}`).join('\n'));
  const params = resolveParams(runbook, assignments.values);
  if (!params.ok) throw new CliError('runbook_param_invalid', params.problems.map((p) => p.message).join('\n'));
  return { raw: assignments.values, values: params.values };
}

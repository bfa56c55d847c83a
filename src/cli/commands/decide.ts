/**
 * `runbook approve|reject <run> [step]` and `runbook done|skip <run> [step]`: decisions on a run
 * waiting for people, from any terminal (typically while `runbook run` waits in another one).
 * This is the local, offline path: a CLI person is `cli:<name>` and has only the Slack groups
 * stated with `--groups`; in Slack, groups are resolved for real. When the engine ignores the
 * decision, its reason is printed as a sentence and the exit code is 1.
 */
import type { RunRecord } from '../../engine/run-store.ts';
import type { Runbook, Step } from '../../machines/ir.ts';
import type { Person, RunEvent } from '../../machines/run-types.ts';
import { CliError } from '../cli-error.ts';
import { loadConfig } from '../config.ts';
import { requireRun, withClientApp } from '../connect.ts';
import type { CliIo } from '../io.ts';
import { cliPerson, localPerson } from '../local-user.ts';
import { explainIgnored, gateOf, personName } from '../run-view.ts';

/** The decision commands, each a subcommand of its own. */
export const DECISIONS = ['approve', 'reject', 'done', 'skip'] as const;
/** One of {@link DECISIONS}. */
export type DecisionKind = (typeof DECISIONS)[number];

/** A decision command's arguments, parsed. */
export interface DecideOptions {
  readonly kind: DecisionKind;
  readonly runId: string;
  /** Default: the step of the run that is waiting for this kind of decision. */
  readonly stepId?: string;
  /** Acts as `cli:<as>`; default: the local user. */
  readonly as?: string;
  readonly groups: readonly string[];
  readonly reason?: string;
}

const WAITS_FOR: Record<DecisionKind, 'awaiting_approval' | 'awaiting_manual'> = {
  approve: 'awaiting_approval',
  reject: 'awaiting_approval',
  done: 'awaiting_manual',
  skip: 'awaiting_manual',
};

/** Sends one decision; exit 0 when applied, 1 when the engine ignored it (with why). */
export async function decideCommand(options: DecideOptions, io: CliIo): Promise<number> {
  const config = loadConfig(io.env, io.cwd);
  const person = options.as !== undefined ? cliPerson(options.as, options.groups) : { ...localPerson(io.env), ...(options.groups.length > 0 ? { groups: options.groups } : {}) };
  return withClientApp(config, io, options.kind, async (app) => {
    const run = await requireRun(app, options.runId);
    const runbook = app.runtime.engine.runbookOf(run);
    const step = pickStep(run, runbook, options);
    const result = await app.runtime.engine.send(run.id, eventFor(options, step, person));
    if (!result.applied) {
      io.stderr(`runbook ${options.kind}: ${explainIgnored(result.reason, { run: result.run, person, step })}\n`);
      return 1;
    }
    io.stdout(`${confirmation(options.kind, result.run, step, person)}\n`);
    return 0;
  });
}

/** The named step, or the one step waiting for this kind of decision. */
function pickStep(run: RunRecord, runbook: Runbook, options: DecideOptions): Step {
  if (options.stepId !== undefined) {
    const named = runbook.steps.find((s) => s.id === options.stepId);
    if (!named) throw new CliError('unknown_step', `run ${run.id} has no step \`${options.stepId}\` (steps: ${runbook.steps.map((s) => s.id).join(', ')})`);
    return named;
  }
  const wanted = WAITS_FOR[options.kind];
  const waiting = runbook.steps.find((s) => run.snapshot.context.steps[s.id]?.status === wanted);
  if (waiting) return waiting;
  const what = wanted === 'awaiting_approval' ? 'approval' : 'a manual step to be marked';
  const why = run.status !== 'active' ? `it has finished (${run.status})` : `nothing in it is waiting for ${what}`;
  throw new CliError('nothing_to_decide', `cannot ${options.kind} run ${run.id}: ${why}`, 1);
}

function eventFor(options: DecideOptions, step: Step, by: Person): RunEvent {
  const reason = options.reason !== undefined ? { reason: options.reason } : {};
  switch (options.kind) {
    case 'approve':
      return { type: 'approval.granted', stepId: step.id, by };
    case 'reject':
      return { type: 'approval.rejected', stepId: step.id, by, ...reason };
    case 'done':
      return { type: 'manual.done', stepId: step.id, by };
    case 'skip':
      return { type: 'manual.skipped', stepId: step.id, by, ...reason };
  }
}

function confirmation(kind: DecisionKind, run: RunRecord, step: Step, person: Person): string {
  const as = `as ${personName(person)}`;
  const state = run.snapshot.context.steps[step.id];
  switch (kind) {
    case 'approve': {
      const quorum = gateOf(step).quorum;
      const count = state?.approvals?.length ?? 0;
      const rest = count >= quorum ? 'the run continues' : `${quorum - count} more approval${quorum - count === 1 ? '' : 's'} needed`;
      return `✔ approved ${step.id} of run ${run.id} ${as} (${count}/${quorum}); ${rest}`;
    }
    case 'reject':
      return `🚫 rejected ${step.id} of run ${run.id} ${as}; the run ${run.status === 'active' ? 'rolls back, then ends rejected' : `is ${run.status}`}`;
    case 'done':
      return `✔ marked ${step.id} of run ${run.id} done ${as}`;
    case 'skip':
      return `⏭ skipped ${step.id} of run ${run.id} ${as}`;
  }
}

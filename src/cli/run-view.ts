/**
 * How runs read in the terminal: durations, people, truncated outputs, the final line of a run,
 * exit codes, and a plain sentence for every reason the engine gives for ignoring an event.
 * Pure functions of a run record and its pinned runbook, shared by `run`, `status` and friends.
 */
import type { RunRecord, RunStatus } from '../engine/run-store.ts';
import type { ApprovalGate, Runbook, Step } from '../machines/ir.ts';
import type { Decision, Person, StepError, StepState } from '../machines/run-types.ts';

/** Exit codes of `runbook run` (and the usage text that documents them). */
export const EXIT_CODES = {
  succeeded: 0,
  failed: 1,
  /** Nothing was started: bad flag, unknown or invalid runbook, bad param, Redis unavailable. */
  usage: 2,
  rolled_back: 3,
  rejected: 4,
  cancelled: 5,
  /** A second Ctrl-C: the run was left active for the workers. */
  interrupted: 130,
} as const;

/** The exit code a finished run maps to; an active run maps to `interrupted`. */
export function exitCodeFor(status: RunStatus): number {
  return status === 'active' ? EXIT_CODES.interrupted : EXIT_CODES[status];
}

/** Longest output or error text shown inline. */
export const MAX_INLINE_CHARS = 200;

/** `340ms`, `1.2s`, `2m05s`, `1h02m`. */
export function formatElapsed(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3_600)}h${String(Math.floor((seconds % 3_600) / 60)).padStart(2, '0')}m`;
}

/** `2025-01-31 09:12:03Z`: sortable, unambiguous, short. */
export function formatTime(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** The SLA rungs that fired for a step: `reminded @ml-oncall-leads 2025-01-31 10:32:00Z; paged PABC123 …`. */
export function formatEscalations(state: Pick<StepState, 'escalations'> | undefined): string | undefined {
  const parts = (state?.escalations ?? []).map((e) => {
    const what = [e.expired ? 'overdue' : '', e.notify?.length ? `reminded ${e.notify.join(', ')}` : '', e.page ? `paged ${e.page.escalationPolicy ?? e.page.service ?? 'PagerDuty'}` : ''].filter(Boolean).join(', ');
    return `${what || `rung ${e.rung + 1}`} ${formatTime(e.at)}`;
  });
  return parts.length > 0 ? `escalated: ${parts.join('; ')}` : undefined;
}

/** One line, at most `max` characters (with `…`). */
export function truncate(text: string, max = MAX_INLINE_CHARS): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** A step output as one truncated line; nothing for empty outputs. */
export function formatOutput(output: unknown, redact: Redactor): string | undefined {
  if (output === undefined || output === null) return undefined;
  if (typeof output === 'object' && Object.keys(output).length === 0) return undefined;
  return truncate(redact(typeof output === 'string' ? output : JSON.stringify(output)));
}

/** `code: message`, one line, truncated, secrets masked. */
export function formatError(error: StepError, redact: Redactor): string {
  return truncate(redact(`${error.code}: ${error.message}`));
}

/** `bob` for CLI and named people, the Slack id otherwise. */
export function personName(person: Person): string {
  return person.name ?? person.id;
}

/** Who decided, optionally with when. */
export function formatDecision(decision: Decision, withTime = false): string {
  return `${personName(decision.by)}${withTime && decision.at !== undefined ? ` at ${formatTime(decision.at)}` : ''}`;
}

/** Replaces the values of secret params wherever they appear. */
export type Redactor = (text: string) => string;

/** A redactor for the secret params of `run`. */
export function redactorFor(run: RunRecord, runbook: Runbook): Redactor {
  const secrets = runbook.params
    .filter((p) => p.secret)
    .map((p) => run.params[p.name])
    .filter((v): v is string => typeof v === 'string' && v.length > 0);
  return (text) => secrets.reduce((out, secret) => out.split(secret).join('[secret]'), text);
}

/** Params as `k=v …`, secret ones masked. */
export function formatParams(run: RunRecord, runbook: Runbook): string {
  const secret = new Set(runbook.params.filter((p) => p.secret).map((p) => p.name));
  const pairs = Object.entries(run.params).map(([k, v]) => `${k}=${secret.has(k) ? '[secret]' : String(v)}`);
  return pairs.join(' ') || '(none)';
}

/** How long a run took (or has taken so far). */
export function runElapsedMs(run: RunRecord, now: number): number {
  return (run.status === 'active' ? now : run.updatedAt) - run.createdAt;
}

/**
 * How long a step took (or has taken so far); undefined when unknown. A step entered when the run was created has no
 * `startedAt` (the machine's init event carries no time): the run's creation time stands in.
 */
export function stepElapsedMs(state: StepState | undefined, now: number, runCreatedAt?: number): number | undefined {
  if (!state || state.status === 'pending' || (state.status === 'skipped' && state.decidedBy === undefined)) return undefined;
  // An undo overwrites `finishedAt`: the do-phase duration is gone, and the undo's has no start.
  if (state.status === 'undoing' || state.status === 'undone' || state.status === 'undo_failed') return undefined;
  const startedAt = state.startedAt ?? runCreatedAt;
  if (startedAt === undefined) return undefined;
  return Math.max(0, (state.finishedAt ?? now) - startedAt);
}

/** The final line of a run: `✅ succeeded in 12.3s`, `❌ failed at deploy: …`, … */
export function finalLine(run: RunRecord, redact: Redactor): string {
  const context = run.snapshot.context;
  const undone = context.rollback && context.rollback.undone.length > 0 ? `; undone: ${context.rollback.undone.join(', ')}` : '';
  const took = formatElapsed(run.updatedAt - run.createdAt);
  const failure = context.failure ? `${context.failure.stepId}: ${formatError(context.failure.error, redact)}` : 'unknown step';
  switch (run.status) {
    case 'succeeded':
      return `✅ succeeded in ${took}`;
    case 'failed':
      return `❌ failed at ${failure} (after ${took})${undone}`;
    case 'rolled_back':
      return `↩ rolled back after ${failure}${undone} (after ${took})`;
    case 'rejected':
      return `🚫 ${rejection(context.rejected, redact)}${undone}`;
    case 'cancelled': {
      const by = context.cancelled;
      return `⏹ cancelled${by ? ` by ${formatDecision(by)}${by.reason ? `: ${truncate(redact(by.reason))}` : ''}` : ''}${undone}`;
    }
    default:
      return `… still running (${took} so far)`;
  }
}

function rejection(rejected: RunRecord['snapshot']['context']['rejected'], redact: Redactor): string {
  if (!rejected) return 'rejected';
  if (rejected.by.id === 'system') return `approval of ${rejected.stepId} expired`;
  return `rejected by ${formatDecision(rejected)} at ${rejected.stepId}${rejected.reason ? `: ${truncate(redact(rejected.reason))}` : ''}`;
}

/** Who may approve a gate, for people reading the terminal. */
export function describeGate(gate: ApprovalGate): string {
  const who = gate.from.length > 0 ? `from ${gate.from.join(', ')}` : 'from anyone';
  const self = gate.allowSelf ? 'the requester may approve' : 'not the requester';
  return `needs ${gate.quorum} approval${gate.quorum === 1 ? '' : 's'} ${who} (${self})`;
}

/** A step's approval gate, or the default one (anyone but the requester, quorum 1). */
export function gateOf(step: Step): ApprovalGate {
  return step.approval ?? { quorum: 1, from: [], allowSelf: false, onExpiry: 'reject', escalation: [] };
}

/** What {@link explainIgnored} needs to name who, which run and which step. */
export interface IgnoredContext {
  readonly run: RunRecord;
  readonly person: Person;
  readonly step?: Step;
}

/** A sentence for each reason the engine gives when an event changed nothing. */
export function explainIgnored(reason: string | undefined, { run, person, step }: IgnoredContext): string {
  const who = personName(person);
  const stepName = step ? `step \`${step.id}\`` : 'that step';
  const state = step ? run.snapshot.context.steps[step.id]?.status : undefined;
  switch (reason) {
    case 'self_approval':
      return `${who} requested run ${run.id} and its runbook does not allow self-approval (allow_self: false): someone else must approve ${stepName}`;
    case 'not_eligible':
      return `${who} is not among the approvers of ${stepName}${step ? `: it ${describeGate(gateOf(step))}` : ''}; `
        + 'a CLI user has no Slack groups unless given with --groups @group (Slack resolves groups for real)';
    case 'already_approved':
      return `${who} has already approved ${stepName}; the remaining approvals must come from other people`;
    case 'approval_not_open':
      return `${stepName} is not waiting for approval (it is ${state ?? 'unknown'})`;
    case 'manual_not_open':
      return `${stepName} is not waiting to be marked done or skipped (it is ${state ?? 'unknown'})`;
    case 'run_finished':
      return `run ${run.id} has already finished (${run.status})`;
    case 'not_cancellable':
      return `run ${run.id} is rolling back and cannot be cancelled until the rollback finishes`;
    case 'unknown_step':
      return `run ${run.id} has no ${stepName}`;
    default:
      return `the engine ignored the request (${reason ?? 'no reason given'})`;
  }
}

const IN_PROGRESS = new Set<StepState['status']>(['running', 'retrying', 'waiting', 'awaiting_approval', 'awaiting_manual', 'undoing']);

/** The step an active run is at (`deploy running`), or undefined. */
export function currentStep(run: RunRecord): { readonly id: string; readonly status: StepState['status'] } | undefined {
  if (run.status !== 'active') return undefined;
  const entry = Object.entries(run.snapshot.context.steps).find(([, s]) => IN_PROGRESS.has(s.status));
  return entry ? { id: entry[0], status: entry[1].status } : undefined;
}

/** Rows as aligned columns (two spaces apart); the last column is not padded. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - [...cell].length))).join('  ').trimEnd())
    .join('\n');
}

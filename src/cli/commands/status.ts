/**
 * `runbook status <run> [--format text|json]`: one run in full: who asked, with which params,
 * and per step its status, attempts, duration, who approved (and when), and its error.
 */
import type { RunRecord } from '../../engine/run-store.ts';
import type { Runbook } from '../../machines/ir.ts';
import type { Decision, StepError } from '../../machines/run-types.ts';
import { loadConfig } from '../config.ts';
import { requireRun, withClientApp } from '../connect.ts';
import type { CliIo } from '../io.ts';
import {
  finalLine, formatDecision, formatElapsed, formatEscalations, formatError, formatOutput, formatParams, formatTime, personName, redactorFor, renderTable, runElapsedMs, stepElapsedMs, type Redactor,
} from '../run-view.ts';

/** `runbook status` arguments, parsed. */
export interface StatusOptions {
  readonly runId: string;
  readonly format: 'text' | 'json';
}

interface PersonView {
  readonly id: string;
  readonly name?: string;
  readonly at?: string;
  readonly reason?: string;
}

/** One step as `status --format json` prints it. */
export interface StepView {
  readonly id: string;
  readonly title: string;
  readonly kind: string;
  readonly status: string;
  readonly attempt: number;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly durationMs?: number;
  readonly approvals: readonly PersonView[];
  readonly decidedBy?: PersonView;
  readonly error?: StepError;
  /** Truncated, secrets masked. */
  readonly output?: string;
  /** The latest progress report of a long call (a backfill's done/failed/total). */
  readonly progress?: unknown;
}

/** Prints one run; exit 0, or 2 when there is no such run. */
export async function statusCommand(options: StatusOptions, io: CliIo): Promise<number> {
  const config = loadConfig(io.env, io.cwd);
  return withClientApp(config, io, 'status', async (app) => {
    const run = await requireRun(app, options.runId);
    const runbook = app.runtime.engine.runbookOf(run);
    const now = Date.now();
    const redact = redactorFor(run, runbook);
    const progress = await app.runtime.engine.store.progress(run.id);
    const steps = stepViews(run, runbook, now, redact).map((s) => (progress[s.id] !== undefined ? { ...s, progress: progress[s.id] } : s));
    io.stdout(options.format === 'json' ? `${JSON.stringify(statusJson(run, runbook, steps, now), null, 2)}\n` : renderStatus(run, runbook, steps, now, redact));
    return 0;
  });
}

function stepViews(run: RunRecord, runbook: Runbook, now: number, redact: Redactor): StepView[] {
  return runbook.steps.map((step) => {
    const state = run.snapshot.context.steps[step.id] ?? { status: 'pending' as const, attempt: 0 };
    const duration = stepElapsedMs(state, run.status === 'active' ? now : run.updatedAt, run.createdAt);
    const output = formatOutput(state.output, redact);
    return {
      id: step.id,
      title: step.title,
      kind: step.kind,
      status: state.status,
      attempt: state.attempt,
      ...(state.startedAt !== undefined ? { startedAt: new Date(state.startedAt).toISOString() } : {}),
      ...(state.finishedAt !== undefined ? { finishedAt: new Date(state.finishedAt).toISOString() } : {}),
      ...(duration !== undefined ? { durationMs: duration } : {}),
      approvals: (state.approvals ?? []).map(personView),
      ...(state.decidedBy ? { decidedBy: personView(state.decidedBy) } : {}),
      ...(state.error ? { error: { ...state.error, message: redact(state.error.message) } } : {}),
      ...(output !== undefined ? { output } : {}),
    };
  });
}

function personView(decision: Decision): PersonView {
  return {
    id: decision.by.id,
    ...(decision.by.name ? { name: decision.by.name } : {}),
    ...(decision.at !== undefined ? { at: new Date(decision.at).toISOString() } : {}),
    ...(decision.reason ? { reason: decision.reason } : {}),
  };
}

function statusJson(run: RunRecord, runbook: Runbook, steps: readonly StepView[], now: number) {
  const secret = new Set(runbook.params.filter((p) => p.secret).map((p) => p.name));
  return {
    id: run.id,
    runbook: { id: runbook.id, title: runbook.title, file: run.runbookFile, sourceHash: run.sourceHash },
    status: run.status,
    requester: run.requester,
    params: Object.fromEntries(Object.entries(run.params).map(([k, v]) => [k, secret.has(k) ? '[secret]' : v])),
    startedAt: new Date(run.createdAt).toISOString(),
    updatedAt: new Date(run.updatedAt).toISOString(),
    durationMs: runElapsedMs(run, now),
    ...(run.incidentId ? { incidentId: run.incidentId } : {}),
    steps,
  };
}

function renderStatus(run: RunRecord, runbook: Runbook, steps: readonly StepView[], now: number, redact: Redactor): string {
  const header = [
    `Run ${run.id}: ${runbook.title} (${runbook.id}, ${run.runbookFile})`,
    `status:    ${run.status}`,
    `requester: ${personName(run.requester)} (${run.requester.id})`,
    `started:   ${formatTime(run.createdAt)} · ${run.status === 'active' ? 'running for' : 'took'} ${formatElapsed(runElapsedMs(run, now))}`,
    `params:    ${formatParams(run, runbook)}`,
  ];
  const rows = steps.map((s) => [s.id, s.status, s.attempt > 0 ? String(s.attempt) : '-', s.durationMs !== undefined ? formatElapsed(s.durationMs) : '-', detailOf(run, s, redact)]);
  const table = renderTable([['STEP', 'STATUS', 'ATTEMPT', 'DURATION', 'DETAIL'], ...rows]);
  const footer = run.status === 'active' ? [] : ['', finalLine(run, redact)];
  return `${[...header, '', table, ...footer].join('\n')}\n`;
}

/** Who approved or decided (with times), the error, or the output, in that order of interest. */
function detailOf(run: RunRecord, step: StepView, redact: Redactor): string {
  const state = run.snapshot.context.steps[step.id];
  const parts: string[] = [];
  if (state?.approvals && state.approvals.length > 0) parts.push(`approved by ${state.approvals.map((d) => formatDecision(d, true)).join(', ')}`);
  if (state?.decidedBy) parts.push(`${decidedVerb(state.status)} by ${formatDecision(state.decidedBy, true)}${state.decidedBy.reason ? `: ${redact(state.decidedBy.reason)}` : ''}`);
  if (state?.error && state.status !== 'succeeded') parts.push(formatError(state.error, redact));
  if (step.progress !== undefined && (step.status === 'running' || step.status === 'retrying')) parts.push(`progress ${describeProgress(step.progress)}`);
  const escalated = formatEscalations(state);
  if (escalated) parts.push(escalated);
  if (parts.length === 0 && step.output !== undefined) parts.push(`→ ${step.output}`);
  return parts.join('; ');
}

function decidedVerb(status: string): string {
  if (status === 'skipped') return 'skipped';
  if (status === 'failed') return 'rejected';
  return 'done';
}

/** `12/40 done, 1 failed` for counters, or the report as JSON. */
export function describeProgress(progress: unknown): string {
  const p = progress as { done?: unknown; failed?: unknown; total?: unknown };
  if (typeof p.done === 'number' && typeof p.total === 'number') return `${p.done}/${p.total} done${typeof p.failed === 'number' && p.failed > 0 ? `, ${p.failed} failed` : ''}`;
  return JSON.stringify(progress);
}

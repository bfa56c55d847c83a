/**
 * The pure decisions the run machine makes on the way: resolving a step's input, evaluating
 * `when`, retry delays, who may approve. Kept apart from the machine's shape so each is testable.
 */
import type { ApprovalGate, Backoff, Runbook, Step } from './ir.ts';
import { parseDuration } from './durations.ts';
import type { Decision, FinalStatus, Person, RunContext, RunEvent, RunInput, RunSummary, StepError, StepState } from './run-types.ts';
import { evaluateCondition, renderTemplate, renderValue, TemplateEvalError, type TemplateScope } from './template.ts';

/** The data templates see: params, earlier steps' outputs and statuses, the run and the incident. */
export function scopeOf(context: RunContext): TemplateScope {
  const steps: Record<string, unknown> = {};
  for (const [id, state] of Object.entries(context.steps)) steps[id] = { status: state.status, output: state.output ?? null };
  return {
    params: context.params,
    steps,
    run: { id: context.runId, requester: context.requester.id, runbook: context.runbookId, started_at: context.startedAt ?? null },
    incident: context.incident ?? { id: '', title: '', service: '', urgency: '', url: '', channel: '' },
  };
}

export type Preparation =
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'run'; readonly input: unknown }
  | { readonly kind: 'error'; readonly error: StepError };

/** Decides, on entering a step, whether it runs (with which input), is skipped, or cannot start. */
export function prepareStep(step: Step, context: RunContext, phase: 'do' | 'undo' = 'do'): Preparation {
  const scope = scopeOf(context);
  try {
    if (phase === 'do' && step.when !== undefined && !evaluateCondition(step.when, scope)) {
      return { kind: 'skip', reason: `\`when: ${step.when}\` is false` };
    }
    const call = phase === 'do' ? step.call : step.undo;
    // `{{ partition }}` belongs to a backfill's per-partition call: the executor renders it.
    return { kind: 'run', input: call ? renderValue(call.args, scope, { deferRoots: ['partition'] }) : {} };
  } catch (error) {
    if (error instanceof TemplateEvalError) {
      return { kind: 'error', error: { code: 'template_eval', message: error.message, retryable: false } };
    }
    throw error;
  }
}

export function isSkipped(step: Step, context: RunContext): boolean {
  return prepareStep(step, context).kind === 'skip';
}

export function cannotStart(step: Step, context: RunContext): boolean {
  return prepareStep(step, context).kind === 'error';
}

/** Delay before attempt `attempt + 1`: initial × factor^(attempt − 1), capped. */
export function retryDelayMs(backoff: Backoff, attempt: number): number {
  return Math.min(backoff.maxMs, Math.round(backoff.initialMs * backoff.factor ** Math.max(0, attempt - 1)));
}

/** Whether `person` may approve under `gate` for a run requested by `requester`. */
export function approvalRefusal(gate: ApprovalGate, person: Person, requester: Person, earlier: readonly Decision[]): string | undefined {
  if (earlier.some((d) => d.by.id === person.id)) return 'already_approved';
  if (!gate.allowSelf && person.id === requester.id) return 'self_approval';
  if (gate.from.length === 0) return undefined;
  const groups = new Set(person.groups ?? []);
  return gate.from.some((entry) => entry === person.id || groups.has(entry)) ? undefined : 'not_eligible';
}

/** Renders the approval message; a template that cannot render shows its source rather than failing the gate. */
export function approvalMessage(step: Step, context: RunContext): string {
  const source = step.approval?.message ?? `Approve “${step.title}”?`;
  try {
    return String(renderTemplate(source, scopeOf(context)));
  } catch {
    return source;
  }
}

export function waitDelayMs(step: Step, context: RunContext): number {
  if (step.waitMs !== undefined) return step.waitMs;
  const prepared = prepareStep(step, context);
  const text = prepared.kind === 'run' && isRecord(prepared.input) ? String(prepared.input['for'] ?? '') : '';
  return parseDuration(text) ?? 0;
}

export function stepState(context: RunContext, stepId: string): StepState {
  return context.steps[stepId] ?? { status: 'pending', attempt: 0 };
}

export function summarize(context: RunContext, status: FinalStatus): RunSummary {
  const steps: Record<string, { status: StepState['status']; output?: unknown; error?: StepError }> = {};
  for (const [id, s] of Object.entries(context.steps)) {
    steps[id] = { status: s.status, ...(s.output !== undefined ? { output: s.output } : {}), ...(s.error ? { error: s.error } : {}) };
  }
  return {
    status,
    steps,
    ...(context.failure ? { failure: context.failure } : {}),
    ...(context.rollback ? { undone: context.rollback.undone } : {}),
    ...(context.cancelled ? { cancelledBy: context.cancelled.by.id } : {}),
    ...(context.rejected ? { rejectedBy: context.rejected.by.id } : {}),
  };
}

/** Timer ids are unique within a run; the engine prefixes the run id to make job ids. */
export const timerIds = {
  timeout: (stepId: string, phase: 'do' | 'undo', attempt: number) => `${stepId}.${phase}.timeout.${attempt}`,
  retry: (stepId: string, phase: 'do' | 'undo', attempt: number) => `${stepId}.${phase}.retry.${attempt}`,
  wait: (stepId: string) => `${stepId}.wait`,
  expiry: (stepId: string) => `${stepId}.approval.expiry`,
  /** Rung `rung` (0-based) of the SLA ladder of a step waiting for a person. */
  escalation: (stepId: string, rung: number) => `${stepId}.escalate.${rung}`,
  manualExpiry: (stepId: string) => `${stepId}.manual.expiry`,
} as const;

export function initialContext(runbook: Runbook, input: RunInput): RunContext {
  return {
    runId: input.runId,
    runbookId: input.runbookId,
    requester: input.requester,
    params: input.params,
    incident: input.incident ?? null,
    startedAt: input.startedAt,
    ...(input.autoStarted ? { autoStarted: true, ...(input.autoStartedBy ? { autoStartedBy: input.autoStartedBy } : {}), ...(input.unattendedSteps?.length ? { unattendedSteps: input.unattendedSteps } : {}) } : {}),
    ...(input.slaDefaults ? { slaDefaults: input.slaDefaults } : {}),
    steps: Object.fromEntries(runbook.steps.map((s) => [s.id, { status: 'pending', attempt: 0 } satisfies StepState])),
    undoStack: [],
    rollback: null,
    failure: null,
    cancelled: null,
    rejected: null,
    final: null,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Why an event changed nothing, for the audit record and for the person who sent it:
 * `self_approval`, `not_eligible`, `already_approved`, `stale_attempt`, `not_waiting`, …
 */
export function whyIgnored(runbook: Runbook, context: RunContext, event: RunEvent): string {
  if (event.type === 'run.cancel') return 'not_cancellable';
  if (event.type === 'timer.fired') return 'timer_not_pending';
  const step = runbook.steps.find((s) => s.id === event.stepId);
  if (!step) return 'unknown_step';
  const state = stepState(context, step.id);
  if (event.type === 'approval.granted' || event.type === 'approval.rejected') {
    if (state.status !== 'awaiting_approval') return 'approval_not_open';
    if (event.type === 'approval.rejected') return 'not_eligible';
    return approvalRefusal(step.approval ?? { quorum: 1, from: [], allowSelf: false, onExpiry: 'reject', escalation: [] }, event.by, context.requester, state.approvals ?? []) ?? 'not_applicable';
  }
  if (event.type === 'manual.done' || event.type === 'manual.skipped') return state.status === 'awaiting_manual' ? 'not_applicable' : 'manual_not_open';
  return 'stale_attempt';
}

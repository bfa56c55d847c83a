/**
 * `runbook plan`: every step's call with its inputs resolved from the params, executing nothing.
 * Values that only exist at run time (earlier steps' outputs, the run id) are shown as markers.
 */
import type { Runbook, Step } from './ir.ts';
import { formatDuration } from './durations.ts';
import { approvalMessage, initialContext, scopeOf } from './run-logic.ts';
import { slaNotes } from './sla-rules.ts';
import { evaluateCondition, renderValue, TemplateEvalError, type TemplateScope } from './template.ts';

export interface PlannedStep {
  readonly id: string;
  readonly title: string;
  readonly kind: Step['kind'];
  readonly executor?: string;
  readonly mutating: boolean;
  readonly input?: unknown;
  readonly undo?: { readonly executor: string; readonly input: unknown };
  /** `runs`, `skipped` (its `when` is already false) or `decided at run time`. */
  readonly condition?: 'runs' | 'skipped' | 'at-run-time';
  readonly notes: readonly string[];
  /** What the executor says the call would do, one line per action (added outside the pure core). */
  readonly actions?: readonly string[];
}

export interface Plan {
  readonly runbook: string;
  readonly title: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly steps: readonly PlannedStep[];
}

/** Marks a value that only exists at run time: `⟨steps.current.output.version⟩`. */
export const runtimeMarker = (path: string): string => `⟨${path}⟩`;

export function planRun(runbook: Runbook, params: Readonly<Record<string, unknown>>, requester = 'you'): Plan {
  const context = initialContext(runbook, { runId: '⟨run.id⟩', runbookId: runbook.id, requester: { id: requester }, params });
  const base = scopeOf(context);
  // Earlier steps have no output yet: every read of them becomes a marker, as does the run id.
  const scope: TemplateScope = { ...base, steps: {}, run: { ...base.run, id: undefined, started_at: undefined }, incident: undefined };
  const options = { onUnresolved: runtimeMarker, deferRoots: ['partition'] };
  const render = (value: unknown) => renderValue(value, scope, options);
  return {
    runbook: runbook.id,
    title: runbook.title,
    params,
    steps: runbook.steps.map((step) => ({
      id: step.id,
      title: step.title,
      kind: step.kind,
      executor: step.call?.executor,
      mutating: step.mutating,
      input: step.kind === 'approval' ? { message: safely(() => render(step.approval?.message ?? approvalMessage(step, context))), ...gateSummary(step) } : step.call ? safely(() => render(step.call?.args)) : undefined,
      undo: step.undo ? { executor: step.undo.executor, input: safely(() => render(step.undo?.args)) } : undefined,
      condition: step.when === undefined ? undefined : conditionOf(step.when, scope),
      notes: [...notesOf(step), ...slaNotes(runbook, step)],
    })),
  };
}

function conditionOf(when: string, scope: TemplateScope): PlannedStep['condition'] {
  let unresolved = false;
  try {
    const result = evaluateCondition(when, scope, { onUnresolved: () => { unresolved = true; return undefined; } });
    if (unresolved) return 'at-run-time';
    return result ? 'runs' : 'skipped';
  } catch {
    return 'at-run-time';
  }
}

function gateSummary(step: Step) {
  const gate = step.approval;
  return gate ? { quorum: gate.quorum, from: gate.from, allow_self: gate.allowSelf } : {};
}

function notesOf(step: Step): string[] {
  const notes: string[] = [];
  if (step.kind === 'manual') notes.push('manual: an operator marks it done or skipped');
  if (step.timeoutMs !== undefined) notes.push(`timeout ${formatDuration(step.timeoutMs)}`);
  if (step.retries > 0) notes.push(`up to ${step.retries} retries, backoff from ${formatDuration(step.backoff.initialMs)}`);
  if (step.onFailure.kind !== 'abort') notes.push(`on failure: ${step.onFailure.kind === 'goto' ? `go to ${step.onFailure.stepId}` : step.onFailure.kind}`);
  if (step.kind === 'wait' && step.waitMs !== undefined) notes.push(`waits ${formatDuration(step.waitMs)}`);
  return notes;
}

function safely(render: () => unknown): unknown {
  try {
    return render();
  } catch (error) {
    if (error instanceof TemplateEvalError) return runtimeMarker(`error: ${error.message}`);
    throw error;
  }
}

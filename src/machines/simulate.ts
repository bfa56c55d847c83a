/**
 * The events that could arrive in a given run state: each active step's success and failure,
 * approvals by eligible people and a rejection, manual done/skip, due timers, and cancel.
 * Used to enumerate every path of a runbook (`@xstate/graph`) in tests and benchmarks.
 */
import type { ApprovalGate, Runbook, Step } from './ir.ts';
import { stepState, timerIds } from './run-logic.ts';
import type { Person, RunContext, RunEvent } from './run-types.ts';
import { collectReferences, hasTemplate, parseCondition, parseTemplate } from './template.ts';

export interface SimulationOptions {
  /** Outputs to offer for each step's success; by default, values derived from what later steps read. */
  readonly outputs?: (step: Step) => readonly unknown[];
  readonly cancel?: boolean;
}

/** Sample outputs per step: every `steps.<id>.output.<path>` read anywhere, filled with 1, and with 0 when a `when` reads it. */
export function sampleOutputs(runbook: Runbook): (step: Step) => readonly unknown[] {
  const shapes = new Map<string, { value: Record<string, unknown>; inCondition: boolean }>();
  const visit = (text: string, isCondition: boolean) => {
    let refs;
    try {
      refs = collectReferences(isCondition ? parseCondition(text) : parseTemplate(text));
    } catch {
      return;
    }
    for (const { path } of refs) {
      const [root, id, field, ...rest] = path;
      if (root !== 'steps' || field !== 'output' || !id) continue;
      const shape = shapes.get(id) ?? { value: {}, inCondition: false };
      shape.inCondition ||= isCondition;
      setPath(shape.value, rest, 1);
      shapes.set(id, shape);
    }
  };
  const walk = (value: unknown): void => {
    if (typeof value === 'string' && hasTemplate(value)) visit(value, false);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  for (const step of runbook.steps) {
    walk(step.call?.args);
    walk(step.undo?.args);
    if (step.approval?.message) walk(step.approval.message);
    if (step.when !== undefined) visit(step.when, true);
  }
  return (step) => {
    const shape = shapes.get(step.id);
    if (!shape) return [{}];
    return shape.inCondition ? [shape.value, replaceLeaves(shape.value, 0)] : [shape.value];
  };
}

function setPath(target: Record<string, unknown>, path: readonly string[], leaf: unknown): void {
  let node = target;
  path.forEach((segment, i) => {
    if (i === path.length - 1) {
      if (!(segment in node)) node[segment] = leaf;
      return;
    }
    const next = node[segment];
    if (next === null || typeof next !== 'object') node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  });
}

function replaceLeaves(value: unknown, leaf: unknown): unknown {
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceLeaves(v, leaf)]));
  return leaf;
}

/** People who may approve `gate` (never the requester), enough for its quorum. */
export function eligibleApprovers(gate: ApprovalGate, requester: Person): Person[] {
  const handles = gate.from.filter((f) => f.startsWith('@'));
  const ids = gate.from.filter((f) => !f.startsWith('@') && f !== requester.id);
  const people: Person[] = ids.map((id) => ({ id }));
  for (let i = 1; people.length < Math.max(gate.quorum, 1) && (handles.length > 0 || gate.from.length === 0); i += 1) {
    people.push({ id: `USIM${i}`, groups: handles });
  }
  return people.slice(0, Math.max(gate.quorum, 1));
}

/** Events that could arrive now, for a run of `runbook` in `context`. */
export function possibleEvents(runbook: Runbook, context: RunContext, options: SimulationOptions = {}): RunEvent[] {
  const outputs = options.outputs ?? sampleOutputs(runbook);
  const events: RunEvent[] = options.cancel === false ? [] : [{ type: 'run.cancel', by: { id: 'USIMCANCEL' } }];
  for (const step of runbook.steps) {
    const s = stepState(context, step.id);
    // A step being undone is past its `do` phase: its attempts are the undo's.
    const undo = s.status === 'undoing' || (s.status === 'retrying' && context.rollback !== null && s.undoAttempt !== undefined);
    const attempt = undo ? (s.undoAttempt ?? 0) : s.attempt;
    const phase = undo ? 'undo' : 'do';
    switch (s.status) {
      case 'running':
      case 'undoing':
        for (const output of undo ? [{}] : outputs(step)) events.push({ type: 'step.succeeded', stepId: step.id, attempt, phase, output });
        // One failure per attempt: retryable while retries remain (so the retry path is taken), final after.
        events.push(attempt <= step.retries
          ? { type: 'step.failed', stepId: step.id, attempt, phase, error: { code: 'sim_flaky', message: 'simulated flake', retryable: true } }
          : { type: 'step.failed', stepId: step.id, attempt, phase, error: { code: 'sim_failure', message: 'simulated failure', retryable: false } });
        break;
      case 'retrying':
        events.push({ type: 'timer.fired', timerId: timerIds.retry(step.id, phase, attempt) });
        break;
      case 'waiting':
        events.push({ type: 'timer.fired', timerId: timerIds.wait(step.id) });
        break;
      case 'awaiting_approval':
        events.push(...approvalEvents(step, context));
        break;
      case 'awaiting_manual':
        events.push({ type: 'manual.done', stepId: step.id, by: { id: 'USIMOPS' } }, { type: 'manual.skipped', stepId: step.id, by: { id: 'USIMOPS' } });
        break;
      default:
        break;
    }
  }
  return events;
}

function approvalEvents(step: Step, context: RunContext): RunEvent[] {
  const gate = step.approval;
  if (!gate) return [];
  const decided = new Set((stepState(context, step.id).approvals ?? []).map((d) => d.by.id));
  const next = eligibleApprovers(gate, context.requester).find((p) => !decided.has(p.id));
  const events: RunEvent[] = [];
  if (next) events.push({ type: 'approval.granted', stepId: step.id, by: next });
  events.push({ type: 'approval.rejected', stepId: step.id, by: context.requester, reason: 'simulated rejection' });
  if (gate.expiresMs !== undefined) events.push({ type: 'timer.fired', timerId: timerIds.expiry(step.id) });
  return events;
}


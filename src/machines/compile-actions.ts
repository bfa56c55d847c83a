/**
 * The building blocks the compiler assembles machines from: context patches (`update`), effects
 * (`effect`, which may describe several at once) and guards over timer events. Shared by
 * `compile.ts`, the SLA ladder (`escalation-ladder.ts`) and the auto-start gate (`auto-start-gate.ts`).
 */
import { assign } from 'xstate';
import { stepState } from './run-logic.ts';
import type { Decision, Effect, RunContext, RunEvent, StepState } from './run-types.ts';

export interface Args {
  readonly context: RunContext;
  readonly event: RunEvent;
}
export type Patch = (args: Args) => Partial<RunContext>;
/** One effect, several (a ladder's timers), or none. */
export type EffectOf = (args: Args) => Effect | readonly Effect[] | null;
export type Action = ReturnType<typeof update> | { type: 'effect'; params: EffectOf };
export interface Transition {
  target?: string;
  guard?: (args: Args) => boolean;
  actions?: Action[];
}

/** A context change, computed from the context and event. */
export const update = (patch: Patch) => assign(({ context, event }: Args) => patch({ context, event }));
/** An effect to return from `transition()`: never performed by the machine. */
export const effect = (make: EffectOf) => ({ type: 'effect' as const, params: make });

/** A patch of one step's state. */
export const withStep = (id: string, change: (s: StepState, args: Args) => Partial<StepState>): Patch => (args) => {
  const current = stepState(args.context, id);
  return { steps: { ...args.context.steps, [id]: { ...current, ...change(current, args) } } };
};

export const at = (event: RunEvent) => event.at;
/** When a step starts: the event's time, or the run's start for the first step (entered on init). */
export const startOf = (event: RunEvent, context: RunContext) => event.at ?? context.startedAt;

export const isTimer = (id: (context: RunContext) => string) => ({ context, event }: Args): boolean =>
  event.type === 'timer.fired' && event.timerId === id(context);

/** Who decided, when, and why, from the event that decided. */
export function decisionOf(event: RunEvent): Decision {
  const by = 'by' in event ? event.by : { id: 'system' };
  const reason = 'reason' in event ? event.reason : event.type === 'timer.fired' ? 'approval expired' : undefined;
  return { by, ...(event.at !== undefined ? { at: event.at } : {}), ...(reason !== undefined ? { reason } : {}) };
}

/** Approvals by these ids are not a person's: they do not lift an auto-started run's gate. */
const NOT_HUMAN: ReadonlySet<string> = new Set(['system', 'pagerduty']);

export const isHuman = (decision: Decision): boolean => !NOT_HUMAN.has(decision.by.id);

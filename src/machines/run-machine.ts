/**
 * Pure stepping of a compiled run machine: start it, apply one event to a persisted snapshot,
 * and get back the next persisted snapshot and the effects to perform. This is the only way the
 * engine touches XState, so every path can be replayed without Redis.
 */
import { initialTransition, transition, type AnyStateMachine } from 'xstate';
import type { Effect, FinalStatus, RunContext, RunEvent, RunInput, RunSummary } from './run-types.ts';

/** The JSON form of a run's state, as stored. */
export interface PersistedRun {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly value: unknown;
  readonly context: RunContext;
  readonly output?: RunSummary;
  readonly [key: string]: unknown;
}

export interface Stepped {
  readonly snapshot: PersistedRun;
  readonly effects: readonly Effect[];
  /** false when the event changed nothing (stale attempt, duplicate, not eligible, run finished). */
  readonly changed: boolean;
}

interface ActionLike {
  readonly type: string;
  readonly params?: unknown;
}

/** The effects among a transition's actions; one action may describe several (an SLA ladder's timers). */
export function effectsOf(actions: readonly ActionLike[]): Effect[] {
  return actions.filter((a) => a.type === 'effect' && a.params !== null && a.params !== undefined).flatMap((a) => (Array.isArray(a.params) ? (a.params as Effect[]) : [a.params as Effect]));
}

function persist(machine: AnyStateMachine, snapshot: unknown): PersistedRun {
  // Through JSON: what is stored is exactly what a later transition will see.
  return JSON.parse(JSON.stringify(machine.getPersistedSnapshot(snapshot as never))) as PersistedRun;
}

export function startRun(machine: AnyStateMachine, input: RunInput): Stepped {
  const [snapshot, actions] = initialTransition(machine, input);
  return { snapshot: persist(machine, snapshot), effects: effectsOf(actions as ActionLike[]), changed: true };
}

/** Applies one event to a stored snapshot. Never throws for an event that does not apply. */
export function applyEvent(machine: AnyStateMachine, stored: PersistedRun, event: RunEvent): Stepped {
  if (stored.status !== 'active') return { snapshot: stored, effects: [], changed: false };
  const current = machine.resolveState({ value: stored.value as never, context: stored.context });
  const [next, actions] = transition(machine, current, event as never);
  if (next === current) return { snapshot: stored, effects: [], changed: false };
  return { snapshot: persist(machine, next), effects: effectsOf(actions as ActionLike[]), changed: true };
}

export function finalStatusOf(snapshot: PersistedRun): FinalStatus | undefined {
  return snapshot.status === 'done' ? (snapshot.context.final ?? undefined) : undefined;
}

/**
 * The SLA ladder of a step waiting for a person (issue 6): on entering the wait, one delayed timer
 * per rung (`<step>.escalate.<rung>`, purpose `escalation`); a rung that fires records itself on
 * the step (`escalations`) and emits `escalation.fire` for the notifier to remind and/or page;
 * leaving the wait (granted, rejected, expired, done, cancelled) cancels the rungs not yet fired.
 * A rung that fires after the wait ended finds no transition and is ignored (`timer_not_pending`),
 * as is a rung delivered twice.
 *
 * Which ladder: the gate's own (`approval.escalation`, or the front matter's `manual.escalation`),
 * else the run's `slaDefaults` (configuration, later policy). Read from the context at run time,
 * so defaults passed to one run never change another.
 */
import { at, effect, update, withStep, type Action, type Args, type Transition } from './compile-actions.ts';
import type { EscalationRung } from './ir.ts';
import { stepState, timerIds } from './run-logic.ts';
import type { Effect, EscalationRecord, RunContext } from './run-types.ts';

export type WaitingFor = 'approval' | 'manual';

/** The rungs in force: the runbook's when it sets some, else the run's defaults for this kind of wait. */
export function ladderFor(own: readonly EscalationRung[] | undefined, waitingFor: WaitingFor, context: RunContext): readonly EscalationRung[] {
  if (own && own.length > 0) return own;
  return context.slaDefaults?.[waitingFor] ?? [];
}

export interface LadderParts {
  /** Schedules every rung's timer. */
  readonly entry: Action[];
  /** Cancels the rungs that have not fired. */
  readonly exit: Action[];
  /** `timer.fired` for a pending rung: record it, emit `escalation.fire`; the wait goes on. */
  readonly onTimer: Transition[];
}

const fired = (context: RunContext, stepId: string): readonly EscalationRecord[] => stepState(context, stepId).escalations ?? [];

/** The ladder's entry/exit actions and timer transitions for the wait of step `stepId`. */
export function escalationLadder(stepId: string, waitingFor: WaitingFor, ladder: (context: RunContext) => readonly EscalationRung[]): LadderParts {
  const rungOf = ({ context, event }: Args): number =>
    event.type === 'timer.fired' ? ladder(context).findIndex((_r, i) => timerIds.escalation(stepId, i) === event.timerId) : -1;
  const pendingRung = (args: Args): number | undefined => {
    const index = rungOf(args);
    return index < 0 || fired(args.context, stepId).some((e) => e.rung === index && !e.expired) ? undefined : index;
  };
  // Actions see the context as earlier actions of the transition left it: the rung is already
  // recorded when the effect is built, so it is found by timer id, not by "not yet fired".
  const rungAt = (args: Args) => {
    const index = rungOf(args);
    return { index, rung: ladder(args.context)[index] };
  };
  return {
    entry: [
      update(withStep(stepId, () => ({ escalations: [] }))),
      effect(({ context }) =>
        ladder(context).map((rung, i): Effect => ({ kind: 'timer.schedule', timerId: timerIds.escalation(stepId, i), delayMs: rung.afterMs, purpose: 'escalation', stepId }))),
    ],
    exit: [
      effect(({ context, event }) => {
        const done = new Set(fired(context, stepId).filter((e) => !e.expired).map((e) => e.rung));
        return ladder(context).flatMap((_rung, i): Effect[] => {
          const id = timerIds.escalation(stepId, i);
          // The rung firing right now is being consumed: nothing to cancel.
          if (done.has(i) || (event.type === 'timer.fired' && event.timerId === id)) return [];
          return [{ kind: 'timer.cancel', timerId: id }];
        });
      }),
    ],
    onTimer: [
      {
        guard: (args) => pendingRung(args) !== undefined,
        actions: [
          update((args) => {
            const { index, rung } = rungAt(args);
            const record: EscalationRecord = { rung: index, ...(at(args.event) !== undefined ? { at: at(args.event) } : {}), ...targets(rung) };
            return withStep(stepId, (s) => ({ escalations: [...(s.escalations ?? []), record] }))(args);
          }),
          effect((args) => {
            const { index, rung } = rungAt(args);
            return { kind: 'escalation.fire', stepId, rung: index, afterMs: rung?.afterMs ?? 0, waitingFor, ...targets(rung) };
          }),
        ],
      },
    ],
  };
}

/**
 * A manual step's `expires`: when it passes, the step is marked overdue (an `expired` escalation
 * record) and everyone the ladder names is reminded. The step keeps waiting: a human step is
 * never skipped by a clock.
 */
export function manualExpiry(stepId: string, expiresMs: number | undefined, ladder: (context: RunContext) => readonly EscalationRung[]): LadderParts {
  if (expiresMs === undefined) return { entry: [], exit: [], onTimer: [] };
  const id = timerIds.manualExpiry(stepId);
  const notifyAll = (context: RunContext) => [...new Set(ladder(context).flatMap((r) => r.notify ?? []))];
  const isExpiry = ({ context, event }: Args) => event.type === 'timer.fired' && event.timerId === id && !fired(context, stepId).some((e) => e.expired);
  return {
    entry: [effect(() => ({ kind: 'timer.schedule', timerId: id, delayMs: expiresMs, purpose: 'manual-expiry', stepId }))],
    exit: [effect(({ context, event }) => (fired(context, stepId).some((e) => e.expired) || (event.type === 'timer.fired' && event.timerId === id) ? null : { kind: 'timer.cancel', timerId: id }))],
    onTimer: [
      {
        guard: isExpiry,
        actions: [
          update((args) => {
            const rung = ladder(args.context).length;
            const notify = notifyAll(args.context);
            const record: EscalationRecord = { rung, expired: true, ...(at(args.event) !== undefined ? { at: at(args.event) } : {}), ...(notify.length > 0 ? { notify } : {}) };
            return withStep(stepId, (s) => ({ escalations: [...(s.escalations ?? []), record] }))(args);
          }),
          effect(({ context }) => {
            const notify = notifyAll(context);
            return { kind: 'escalation.fire', stepId, rung: ladder(context).length, afterMs: expiresMs, waitingFor: 'manual', expired: true, ...(notify.length > 0 ? { notify } : {}) };
          }),
        ],
      },
    ],
  };
}

function targets(rung: EscalationRung | undefined): Pick<EscalationRecord, 'notify' | 'page'> {
  if (!rung) return {};
  const page = rung.page ? Object.fromEntries(Object.entries(rung.page).filter(([, v]) => v !== undefined)) : undefined;
  return { ...(rung.notify && rung.notify.length > 0 ? { notify: rung.notify } : {}), ...(page ? { page } : {}) };
}

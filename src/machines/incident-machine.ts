/**
 * The incident machine (issue 6): `triggered → acknowledged → mitigating → resolved`, resolved
 * final. Acknowledging and mitigating may be skipped (resolve from any state; mitigating from
 * triggered implies an acknowledgement). Like the run machine it performs nothing: each
 * transition returns effects (create the channel, update the pinned summary, sync PagerDuty,
 * schedule or cancel SLA timers, fire an escalation) for the engine to turn into jobs.
 *
 * `startIncident` / `applyIncidentEvent` are the only way the engine touches it, through XState's
 * pure `initialTransition()` / `transition()`.
 */
import { assign, initialTransition, setup, transition } from 'xstate';
import { creationEffects, initialIncidentContext, stepIncident, whyIncidentIgnored } from './incident-logic.ts';
import { INCIDENT_STATUSES, type IncidentContext, type IncidentEffect, type IncidentEvent, type IncidentEventType, type IncidentInput, type IncidentStatus } from './incident-types.ts';

/** The JSON form of an incident's state, as stored. */
export interface PersistedIncident {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly value: IncidentStatus;
  readonly context: IncidentContext;
  readonly [key: string]: unknown;
}

export interface SteppedIncident {
  readonly snapshot: PersistedIncident;
  readonly effects: readonly IncidentEffect[];
  /** false when the event changed nothing; `reason` says why. */
  readonly changed: boolean;
  readonly reason?: string;
}

interface Args {
  readonly context: IncidentContext;
  readonly event: IncidentEvent;
}

const EVENT_TYPES: readonly IncidentEventType[] = [
  'incident.acknowledge', 'incident.mitigate', 'incident.resolve', 'incident.note', 'incident.alert', 'incident.reassigned',
  'incident.channel_created', 'incident.summary_posted', 'incident.pagerduty_linked', 'incident.run_started',
  'incident.run_finished', 'incident.run_event', 'timer.fired',
];

/** Status moves; every other applicable event stays in its state. */
const MOVES: Readonly<Record<IncidentStatus, Partial<Record<IncidentEventType, IncidentStatus>>>> = {
  triggered: { 'incident.acknowledge': 'acknowledged', 'incident.mitigate': 'mitigating', 'incident.resolve': 'resolved' },
  acknowledged: { 'incident.mitigate': 'mitigating', 'incident.resolve': 'resolved' },
  mitigating: { 'incident.resolve': 'resolved' },
  resolved: {},
};

function stateNode(status: IncidentStatus) {
  if (status === 'resolved') return { type: 'final' as const };
  const on = Object.fromEntries(
    EVENT_TYPES.map((type) => {
      const target = MOVES[status][type];
      return [
        type,
        {
          ...(target ? { target } : {}),
          guard: ({ context, event }: Args) => whyIncidentIgnored(status, context, event) === undefined,
          // The effects first: they are computed from the context before the event.
          actions: [
            { type: 'effect' as const, params: ({ context, event }: Args) => ({ effects: stepIncident(status, context, event).effects }) },
            assign(({ context, event }: Args) => stepIncident(status, context, event).context),
          ],
        },
      ];
    }),
  );
  return { on };
}

/** The incident machine (input: `IncidentInput`). */
export const incidentMachine = setup({
  types: {} as { context: IncidentContext; events: IncidentEvent; input: IncidentInput },
  actions: {
    // Effects are returned by transition(), never performed here: see src/engine/incidents.ts.
    effect: () => undefined,
  },
}).createMachine({
  id: 'incident',
  initial: 'triggered',
  context: ({ input }) => initialIncidentContext(input),
  // The config is built from data (one transition per event type and state), so its literal types are lost.
  states: Object.fromEntries(INCIDENT_STATUSES.map((s) => [s, stateNode(s)])) as never,
});

interface ActionLike {
  readonly type: string;
  readonly params?: unknown;
}

function effectsOf(actions: readonly ActionLike[]): IncidentEffect[] {
  return actions.flatMap((a) => (a.type === 'effect' && a.params && typeof a.params === 'object' ? ((a.params as { effects?: IncidentEffect[] }).effects ?? []) : []));
}

function persist(snapshot: unknown): PersistedIncident {
  // Through JSON: what is stored is exactly what a later transition will see.
  return JSON.parse(JSON.stringify(incidentMachine.getPersistedSnapshot(snapshot as never))) as PersistedIncident;
}

/** Creates an incident: its first snapshot, and the channel and SLA timers it asks for. */
export function startIncident(input: IncidentInput): SteppedIncident {
  const [snapshot] = initialTransition(incidentMachine, input);
  const persisted = persist(snapshot);
  return { snapshot: persisted, effects: creationEffects(persisted.context), changed: true };
}

/** Applies one event to a stored snapshot. Never throws for an event that does not apply: says why. */
export function applyIncidentEvent(stored: PersistedIncident, event: IncidentEvent): SteppedIncident {
  const status = incidentStatusOf(stored);
  const reason = stored.status === 'active' ? whyIncidentIgnored(status, stored.context, event) : 'incident_resolved';
  if (reason !== undefined) return { snapshot: stored, effects: [], changed: false, reason };
  const current = incidentMachine.resolveState({ value: stored.value, context: stored.context });
  const [next, actions] = transition(incidentMachine, current, event);
  if (next === current) return { snapshot: stored, effects: [], changed: false, reason: 'not_applicable' };
  return { snapshot: persist(next), effects: effectsOf(actions as ActionLike[]), changed: true };
}

/** The incident's status from its stored snapshot. */
export function incidentStatusOf(snapshot: PersistedIncident): IncidentStatus {
  return (INCIDENT_STATUSES as readonly string[]).includes(snapshot.value) ? snapshot.value : 'triggered';
}

/**
 * The incident machine's vocabulary (issue 6): its context, the events it moves on and the effects
 * it emits. Plain JSON, like the run machine's, so snapshots persist and effects cross a queue.
 *
 * An incident moves `triggered → acknowledged → mitigating → resolved`; every move records who and
 * when, and everything that happens to it (alerts, runs, approvals, escalations, notes) lands on
 * its timeline. The machine is pure: Slack channels, pinned summaries, PagerDuty status sync and
 * SLA timers are effects that the engine turns into jobs.
 */
import type { EscalationRung } from './ir.ts';
import type { Person } from './run-types.ts';

export const INCIDENT_STATUSES = ['triggered', 'acknowledged', 'mitigating', 'resolved'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export const SEVERITIES = ['sev1', 'sev2', 'sev3'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Where an incident, or a move of it, came from. */
export type IncidentSource = 'pagerduty' | 'slack' | 'cli' | 'system';

/** The PagerDuty incident an incident mirrors, when it came from (or was synced to) PagerDuty. */
export interface PagerDutyRef {
  readonly incidentId: string;
  readonly number?: number;
  readonly htmlUrl?: string;
  readonly serviceId?: string;
  readonly serviceName?: string;
  readonly urgency?: 'high' | 'low';
  readonly escalationPolicyId?: string;
  readonly incidentKey?: string;
}

/** The incident's Slack channel, once created. */
export interface SlackChannelRef {
  readonly channelId: string;
  readonly name: string;
  /** `ts` of the pinned summary message, kept current. */
  readonly summaryTs?: string;
}

/** One line of the timeline: what happened, when, who did it. */
export interface TimelineEntry {
  readonly at: number;
  /** Dotted lowercase: `incident.triggered`, `alert.received`, `run.started`, `escalation.fired`, `note.added` … */
  readonly type: string;
  readonly actor: Person;
  /** One human sentence, already free of secrets. */
  readonly text: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface IncidentInput {
  readonly id: string;
  readonly title: string;
  readonly severity: Severity;
  readonly source: IncidentSource;
  readonly declaredBy: Person;
  readonly createdAt: number;
  readonly pagerDuty?: PagerDutyRef;
  /** Slack user ids to invite to the channel. */
  readonly responders?: readonly string[];
  /** Acknowledgement SLA ladder (from policy defaults); empty: no escalation. */
  readonly ackEscalation?: readonly EscalationRung[];
}

export interface IncidentContext {
  readonly id: string;
  readonly title: string;
  readonly severity: Severity;
  readonly source: IncidentSource;
  readonly declaredBy: Person;
  readonly createdAt: number;
  readonly pagerDuty: PagerDutyRef | null;
  readonly slack: SlackChannelRef | null;
  readonly responders: readonly string[];
  readonly ackEscalation: readonly EscalationRung[];
  readonly acknowledged: { readonly by: Person; readonly at: number } | null;
  readonly mitigating: { readonly by: Person; readonly at: number } | null;
  readonly resolved: { readonly by: Person; readonly at: number; readonly resolution?: string } | null;
  /** Run ids started for the incident, oldest first. */
  readonly runs: readonly string[];
  /** Escalation rungs already fired (indexes into `ackEscalation`). */
  readonly escalated: readonly number[];
  readonly timeline: readonly TimelineEntry[];
}

type At = { readonly at?: number };
/** `source` says where a move came from, so a move that PagerDuty told us about is not echoed back to it. */
type Move = { readonly by: Person; readonly source: IncidentSource } & At;

export type IncidentEvent =
  | ({ type: 'incident.acknowledge' } & Move)
  | ({ type: 'incident.mitigate'; reason?: string } & Move)
  | ({ type: 'incident.resolve'; resolution?: string } & Move)
  | ({ type: 'incident.note'; by: Person; text: string } & At)
  | ({ type: 'incident.alert'; by: Person; text: string; data?: Readonly<Record<string, unknown>> } & At)
  | ({ type: 'incident.reassigned'; by: Person; to: readonly string[] } & At)
  | ({ type: 'incident.channel_created'; channel: SlackChannelRef } & At)
  | ({ type: 'incident.summary_posted'; ts: string } & At)
  | ({ type: 'incident.pagerduty_linked'; pagerDuty: PagerDutyRef } & At)
  | ({ type: 'incident.run_started'; runId: string; runbookId: string; by: Person; auto: boolean } & At)
  | ({ type: 'incident.run_finished'; runId: string; runbookId: string; status: string } & At)
  /** A run of the incident recorded something a postmortem wants (approval, escalation). */
  | ({ type: 'incident.run_event'; runId: string; text: string; by: Person } & At)
  | ({ type: 'timer.fired'; timerId: string } & At);

export type IncidentEventType = IncidentEvent['type'];

/** What the incident machine asks the world to do. */
export type IncidentEffect =
  | { readonly kind: 'incident.channel.create'; readonly name: string; readonly responders: readonly string[] }
  /** Re-render the pinned summary from current state (post + pin it the first time). */
  | { readonly kind: 'incident.summary.update' }
  | { readonly kind: 'incident.post'; readonly text: string }
  /** Mirror a move made here to PagerDuty (only when the move did not come from PagerDuty). */
  | { readonly kind: 'pagerduty.status'; readonly status: 'acknowledged' | 'resolved'; readonly resolution?: string }
  | { readonly kind: 'pagerduty.note'; readonly content: string }
  | { readonly kind: 'timer.schedule'; readonly timerId: string; readonly delayMs: number; readonly purpose: 'ack-escalation' }
  | { readonly kind: 'timer.cancel'; readonly timerId: string }
  /** An SLA rung fired: remind (mention `notify`) and/or page. */
  | { readonly kind: 'escalation.fire'; readonly rung: number; readonly notify?: readonly string[]; readonly page?: EscalationRung['page']; readonly reason: string };

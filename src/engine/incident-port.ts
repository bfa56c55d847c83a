/**
 * The incident service's contract (issue 6), what the bot, the PagerDuty webhook worker and the
 * CLI call. Implemented by `IncidentService` (`incidents.ts`): same durability as runs (a Redis
 * hash with a version, an outbox of audit records and effects committed atomically, drained audit
 * first), the same audit store.
 */
import type { IncidentContext, IncidentEffect, IncidentEvent, IncidentSource, IncidentStatus, PagerDutyRef, Severity } from '../machines/incident-types.ts';
import type { EscalationRung } from '../machines/ir.ts';
import type { Person } from '../machines/run-types.ts';

/** An incident as stored. */
export interface IncidentRecord {
  /** `INC-<n>`, n from a Redis counter: short enough to type in Slack. */
  readonly id: string;
  readonly status: IncidentStatus;
  readonly context: IncidentContext;
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface DeclareIncidentRequest {
  readonly title: string;
  /** @default 'sev3' (PagerDuty `high` urgency maps to sev2 unless a priority says otherwise) */
  readonly severity?: Severity;
  readonly source: IncidentSource;
  readonly declaredBy: Person;
  /** Set for incidents from PagerDuty: declaring twice with the same PagerDuty id returns the first. */
  readonly pagerDuty?: PagerDutyRef;
  /** Slack user ids to invite to the incident channel. */
  readonly responders?: readonly string[];
  /** Acknowledgement SLA ladder; default from configuration/policy. */
  readonly ackEscalation?: readonly EscalationRung[];
}

export interface IncidentSendResult {
  readonly applied: boolean;
  readonly incident: IncidentRecord;
  /** Why an event changed nothing (`already_acknowledged`, `incident_resolved`, `timer_not_pending` …). */
  readonly reason?: string;
}

export interface Incidents {
  /** Creates the incident (channel creation, pinned summary and SLA timers follow as effects). */
  declare(request: DeclareIncidentRequest): Promise<{ readonly incident: IncidentRecord; readonly created: boolean }>;
  send(incidentId: string, event: IncidentEvent): Promise<IncidentSendResult>;
  get(incidentId: string): Promise<IncidentRecord | undefined>;
  findByPagerDutyId(pagerDutyIncidentId: string): Promise<IncidentRecord | undefined>;
  findByChannel(channelId: string): Promise<IncidentRecord | undefined>;
  /** Newest first. */
  list(limit?: number): Promise<IncidentRecord[]>;
}

/** A job on the `incident-effects` queue: one effect of one committed incident transition. */
export interface IncidentEffectJob {
  readonly incidentId: string;
  readonly version: number;
  readonly effect: IncidentEffect;
}

/** Performs incident effects that leave the process (Slack, PagerDuty); supplied by the app. */
export type IncidentEffectHandler = (job: IncidentEffectJob) => Promise<void>;

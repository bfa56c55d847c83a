/**
 * The page part of an incident's acknowledgement escalation (`escalation.fire` with `page`), sent
 * by {@link sendPage}: the incident's own PagerDuty incident is escalated one level, or one is
 * opened with a key derived from the incident and rung.
 */
import type { Redis } from 'ioredis';
import type { IncidentRecord } from '../engine/incident-port.ts';
import type { PagerDutyClient } from '../integrations/pagerduty.ts';
import { CodedError } from '../shared/coded-error.ts';
import { sendPage } from './pagerduty-page.ts';
import type { IncidentPager } from './incident-slack.ts';

/** Options of {@link createIncidentPager}. */
export interface IncidentPagerOptions {
  readonly pagerDuty: Pick<PagerDutyClient, 'getIncident' | 'updateIncident' | 'createIncident' | 'resolveServiceId'>;
  readonly redis: Redis;
  readonly prefix: string;
  /** Service paged when the rung names only an escalation policy (`PAGERDUTY_DEFAULT_SERVICE`). */
  readonly defaultService?: string;
  /** @default 30 days */
  readonly retentionMs?: number;
}

/** Builds the pager to give `createSlackIncidentEffects` as `page`. */
export function createIncidentPager(options: IncidentPagerOptions): IncidentPager {
  const pager = { pagerDuty: options.pagerDuty, redis: options.redis, retentionMs: options.retentionMs ?? 30 * 86_400_000, ...(options.defaultService ? { defaultService: options.defaultService } : {}) };
  return async (incident: IncidentRecord, { rung, page, reason }) => {
    const pagerDutyIncidentId = incident.context.pagerDuty?.incidentId;
    const outcome = await sendPage(pager, {
      ...(pagerDutyIncidentId ? { pagerDutyIncidentId } : {}),
      levelKey: `${options.prefix}:pagerduty:incident-level:${incident.id}:${rung}`,
      page,
      title: `${incident.id} ${incident.context.title}: ${reason}`,
      details: `Incident ${incident.id} (${incident.context.severity}) is ${reason}.`,
      incidentKey: `runbook-${incident.id}-ack-${rung}`,
    });
    if (outcome.kind === 'unconfigured') throw new CodedError('incident_page_unconfigured', `the page for ${incident.id} ${outcome.reason}`);
  };
}

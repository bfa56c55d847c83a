/**
 * The page part of an incident's acknowledgement escalation (`escalation.fire` with `page`): an
 * incident mirrored in PagerDuty is escalated one level (the level to reach is fixed in Redis the
 * first time, so a retry does not escalate twice); one that is not opens a PagerDuty incident on
 * the rung's service (or the default one) with a deterministic incident key, so a retry adopts it.
 */
import type { Redis } from 'ioredis';
import type { IncidentRecord } from '../engine/incident-port.ts';
import type { PagerDutyClient } from '../integrations/pagerduty.ts';
import { CodedError } from '../shared/coded-error.ts';
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
  const { pagerDuty: pd, redis } = options;
  const retentionMs = options.retentionMs ?? 30 * 86_400_000;
  return async (incident: IncidentRecord, { rung, page, reason }) => {
    const pagerDutyId = incident.context.pagerDuty?.incidentId;
    if (pagerDutyId) {
      const levelKey = `${options.prefix}:pagerduty:incident-level:${incident.id}:${rung}`;
      const current = await pd.getIncident(pagerDutyId);
      await redis.set(levelKey, String((current.escalation_level ?? 1) + 1), 'PX', retentionMs, 'NX');
      const level = Number(await redis.get(levelKey));
      if ((current.escalation_level ?? 1) < level) await pd.updateIncident(pagerDutyId, { escalation_level: level });
      return;
    }
    const serviceName = page.service ?? options.defaultService;
    if (!serviceName) throw new CodedError('incident_page_unconfigured', `the page for ${incident.id} names no service and PAGERDUTY_DEFAULT_SERVICE is unset`);
    const service = await pd.resolveServiceId(serviceName);
    if (!service) throw new CodedError('incident_page_unconfigured', `the page for ${incident.id} was not sent: PagerDuty has no service ${JSON.stringify(serviceName)}`);
    await pd.createIncident({
      service,
      ...(page.escalationPolicy ? { escalationPolicy: page.escalationPolicy } : {}),
      title: `${incident.id} ${incident.context.title}: ${reason}`,
      urgency: 'high',
      incidentKey: `runbook-${incident.id}-ack-${rung}`,
      details: `Incident ${incident.id} (${incident.context.severity}) is ${reason}.`,
    });
  };
}

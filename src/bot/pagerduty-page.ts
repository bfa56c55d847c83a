/**
 * What an SLA rung's `page` does in PagerDuty, for runs and incidents alike: a wait that belongs
 * to an incident PagerDuty already has is escalated there one level (the level to reach is fixed
 * in Redis the first time, so a retry after a lost reply sets the same level, not one more);
 * otherwise an incident is opened on the rung's service (or the default one) with a deterministic
 * incident key, so a retry adopts the incident the first try opened.
 */
import type { Redis } from 'ioredis';
import type { EscalationRung } from '../machines/ir.ts';
import type { PagerDutyClient, PagerDutyIncident } from '../integrations/pagerduty.ts';

/** One page to send. */
export interface PageRequest {
  /** The PagerDuty incident the wait belongs to, when there is one: escalate it. */
  readonly pagerDutyIncidentId?: string;
  /** Redis key fixing the level the escalation reaches (one per rung). */
  readonly levelKey: string;
  readonly page: NonNullable<EscalationRung['page']>;
  /** For a new incident. */
  readonly title: string;
  readonly details: string;
  readonly incidentKey: string;
}

export type PageOutcome =
  | { readonly kind: 'escalated'; readonly incidentId: string; readonly level: number }
  | { readonly kind: 'opened'; readonly incident: PagerDutyIncident; readonly created: boolean }
  /** Nothing could be sent: no service to open an incident on. `reason` says what is missing. */
  | { readonly kind: 'unconfigured'; readonly reason: string };

export interface PagerOptions {
  readonly pagerDuty: Pick<PagerDutyClient, 'getIncident' | 'updateIncident' | 'createIncident' | 'resolveServiceId'>;
  readonly redis: Redis;
  /** Service paged when the rung names only an escalation policy (`PAGERDUTY_DEFAULT_SERVICE`). */
  readonly defaultService?: string;
  /** How long the fixed level is kept. */
  readonly retentionMs: number;
}

/** Sends one page; PagerDuty's errors reject as the client raised them. */
export async function sendPage(options: PagerOptions, request: PageRequest): Promise<PageOutcome> {
  const pd = options.pagerDuty;
  if (request.pagerDutyIncidentId) {
    const current = await pd.getIncident(request.pagerDutyIncidentId);
    await options.redis.set(request.levelKey, String((current.escalation_level ?? 1) + 1), 'PX', options.retentionMs, 'NX');
    const level = Number(await options.redis.get(request.levelKey));
    if ((current.escalation_level ?? 1) < level) await pd.updateIncident(request.pagerDutyIncidentId, { escalation_level: level });
    return { kind: 'escalated', incidentId: request.pagerDutyIncidentId, level };
  }
  const serviceName = request.page.service ?? options.defaultService;
  if (!serviceName) {
    return { kind: 'unconfigured', reason: `names only escalation policy ${request.page.escalationPolicy ?? ''}; PagerDuty opens incidents on a service (set PAGERDUTY_DEFAULT_SERVICE)` };
  }
  const service = await pd.resolveServiceId(serviceName);
  if (!service) return { kind: 'unconfigured', reason: `was not sent: PagerDuty has no service ${JSON.stringify(serviceName)}` };
  const { incident, created } = await pd.createIncident({
    service,
    ...(request.page.escalationPolicy ? { escalationPolicy: request.page.escalationPolicy } : {}),
    title: request.title,
    urgency: 'high',
    incidentKey: request.incidentKey,
    details: request.details,
  });
  return { kind: 'opened', incident, created };
}

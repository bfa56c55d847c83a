/**
 * A PagerDuty alert as the sandbox plays it: the incident is created in the PagerDuty stand-in
 * over its REST API (as a monitoring integration would), and the bot's `POST /pagerduty/webhook`
 * receives the v3 webhook PagerDuty would send, signed `X-PagerDuty-Signature: v1=<HMAC-SHA256 of
 * the raw body>` with the subscription secret (REFERENCE.md §2.1). Acknowledging and resolving go
 * the same way: a `PUT /incidents/{id}`, then `incident.acknowledged` / `incident.resolved`.
 *
 * With `deliveries` (the stand-in in this process, subscribed to the bot), the stand-in itself
 * delivers the webhook, as PagerDuty does; without, this module signs and sends it.
 */
import { randomUUID } from 'node:crypto';
import { signPagerDutyBody } from '../../integrations/pagerduty-signature.ts';
import type { StandInDelivery } from '../pagerduty.ts';
import { CONSOLE_PAGERDUTY_FROM } from './snapshot.ts';

/** Where the alert goes. */
export interface PagerDutyAlertOptions {
  /** The PagerDuty stand-in's REST base (`PAGERDUTY_API_URL`). */
  readonly apiUrl: string;
  /** A token the stand-in accepts (`PAGERDUTY_TOKEN`). */
  readonly token: string;
  /** The bot's webhook URL (`http://127.0.0.1:3000/pagerduty/webhook`). */
  readonly webhookUrl: string;
  /** The subscription secret the bot checks (`PAGERDUTY_WEBHOOK_SECRET`). */
  readonly webhookSecret: string;
  /** Deadline of each request. @default 10000 */
  readonly timeoutMs?: number;
  /** The PagerDuty stand-in's own deliveries, when it is subscribed to the bot's webhook. */
  readonly deliveries?: { readonly list: () => readonly StandInDelivery[]; readonly idle: () => Promise<void> };
}

/** The incident as the PagerDuty REST API returns it. */
export type PagerDutyIncidentJson = Record<string, unknown> & { readonly id: string; readonly title: string };

/** The bot's answer to one webhook delivery. */
export interface WebhookDelivery {
  readonly eventType: string;
  readonly eventId: string;
  readonly status: number;
  readonly body: string;
}

/** Creates an incident on `service` (a name the stand-in knows) and delivers `incident.triggered`. */
export async function triggerPagerDutyIncident(options: PagerDutyAlertOptions, alert: { readonly title: string; readonly service: string; readonly urgency?: 'high' | 'low' }): Promise<{ incident: PagerDutyIncidentJson; delivery: WebhookDelivery }> {
  const services = await rest(options, 'GET', `/services?query=${encodeURIComponent(alert.service)}`);
  const list = Array.isArray(services['services']) ? (services['services'] as Record<string, unknown>[]) : [];
  const service = list.find((s) => s['name'] === alert.service);
  if (!service) throw new Error(`the PagerDuty stand-in has no service named ${JSON.stringify(alert.service)}`);
  const created = await rest(options, 'POST', '/incidents', {
    incident: { type: 'incident', title: alert.title, service: { id: service['id'], type: 'service_reference' }, urgency: alert.urgency ?? 'high', incident_key: `sandbox-${randomUUID()}` },
  });
  const incident = created['incident'] as PagerDutyIncidentJson;
  return { incident, delivery: await delivered(options, 'incident.triggered', incident) };
}

/** Acknowledges or resolves an incident in the stand-in and delivers the matching webhook. */
export async function updatePagerDutyIncident(options: PagerDutyAlertOptions, incidentId: string, status: 'acknowledged' | 'resolved'): Promise<{ incident: PagerDutyIncidentJson; delivery: WebhookDelivery }> {
  const updated = await rest(options, 'PUT', `/incidents/${encodeURIComponent(incidentId)}`, {
    incident: { type: 'incident_reference', status, ...(status === 'resolved' ? { resolution: 'Rolled back; latency back under SLO.' } : {}) },
  });
  const incident = updated['incident'] as PagerDutyIncidentJson;
  return { incident, delivery: await delivered(options, `incident.${status}`, incident) };
}

/** The stand-in's own delivery of `eventType` for `incident` once it is made, or one sent from here. */
async function delivered(options: PagerDutyAlertOptions, eventType: string, incident: PagerDutyIncidentJson): Promise<WebhookDelivery> {
  if (!options.deliveries) return deliverIncidentWebhook(options, eventType, incident);
  await options.deliveries.idle();
  const made = [...options.deliveries.list()].reverse().find((d) => d.incidentId === incident.id && d.eventType === eventType);
  if (!made) throw new Error(`the PagerDuty stand-in delivered no ${eventType} for ${incident.id}`);
  return { eventType, eventId: made.eventId, status: made.status, body: '' };
}

/** Sends one signed v3 webhook for `incident` (as the REST API returned it) to the bot. */
export async function deliverIncidentWebhook(options: PagerDutyAlertOptions, eventType: string, incident: PagerDutyIncidentJson): Promise<WebhookDelivery> {
  const eventId = randomUUID();
  const service = (incident['service'] ?? {}) as Record<string, unknown>;
  const body = JSON.stringify({
    event: {
      id: eventId, event_type: eventType, resource_type: 'incident', occurred_at: new Date().toISOString(),
      agent: eventType === 'incident.triggered' ? null : { id: 'PUSANDBOX', type: 'user_reference', summary: 'Sandbox on-call', self: `${options.apiUrl}/users/PUSANDBOX`, html_url: `${options.apiUrl}/users/PUSANDBOX` },
      client: null,
      data: {
        id: incident.id, type: 'incident', self: incident['self'], html_url: incident['html_url'], number: incident['incident_number'], status: incident['status'],
        incident_key: incident['incident_key'] ?? null, created_at: incident['created_at'], title: incident.title,
        service: { id: service['id'], type: 'service_reference', summary: service['summary'], self: `${options.apiUrl}/services/${String(service['id'])}`, html_url: `${options.apiUrl}/services/${String(service['id'])}` },
        assignees: [], escalation_policy: { ...((incident['escalation_policy'] ?? {}) as Record<string, unknown>), type: 'escalation_policy_reference' },
        teams: [], priority: null, urgency: incident['urgency'], conference_bridge: null, resolve_reason: null,
      },
    },
  });
  const response = await fetch(options.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'PagerDuty-Webhook/V3.0',
      'x-webhook-id': randomUUID(),
      'x-webhook-subscription': 'PSUBSANDBOX',
      'x-pagerduty-signature': signPagerDutyBody(options.webhookSecret, body),
    },
    body,
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  return { eventType, eventId, status: response.status, body: (await response.text()).slice(0, 500) };
}

async function rest(options: PagerDutyAlertOptions, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${options.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Token token=${options.token}`,
      accept: 'application/vnd.pagerduty+json;version=2',
      from: CONSOLE_PAGERDUTY_FROM,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`the PagerDuty stand-in answered ${method} ${path} with HTTP ${response.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

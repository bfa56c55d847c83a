/**
 * PagerDuty webhooks v3 as PagerDuty sends them (REFERENCE.md §2.1), for the stand-in, tests and
 * benchmarks: realistic event payloads, and a sender that signs the exact bytes it posts
 * (`X-PagerDuty-Signature: v1=…`, several entries while a secret rotates), with `X-Webhook-Id`,
 * `X-Webhook-Subscription` and `User-Agent: PagerDuty-Webhook/V3.0`, retrying on non-2xx like
 * PagerDuty (which retries 5xx, 429 and timeouts, and drops other 4xx).
 */
import { randomUUID } from 'node:crypto';
import { signPagerDutyBody } from '../integrations/pagerduty-signature.ts';

export interface WebhookIncidentInput {
  readonly id: string;
  readonly number: number;
  readonly title: string;
  readonly status: 'triggered' | 'acknowledged' | 'resolved';
  readonly urgency: 'high' | 'low';
  readonly service: { readonly id: string; readonly name: string };
  readonly escalationPolicy?: { readonly id: string; readonly name?: string };
  readonly incidentKey?: string | null;
  readonly createdAt?: string;
  readonly assignees?: readonly { readonly id: string; readonly name: string }[];
  readonly priority?: string | null;
  /** Base of `self`/`html_url` links. @default https://api.pagerduty.com */
  readonly apiBase?: string;
  /** @default https://acme.pagerduty.com */
  readonly webBase?: string;
}

/** Who did it: a user reference, or null for automation. */
export type WebhookAgent = { readonly id: string; readonly name: string } | null;

/** An incident object as `event.data` carries it. */
export function buildWebhookIncident(input: WebhookIncidentInput): Record<string, unknown> {
  const api = input.apiBase ?? 'https://api.pagerduty.com';
  const web = input.webBase ?? 'https://acme.pagerduty.com';
  const ref = (kind: string, path: string, id: string, summary: string) => ({ id, type: `${kind}_reference`, summary, self: `${api}/${path}/${id}`, html_url: `${web}/${path}/${id}` });
  return {
    id: input.id, type: 'incident', self: `${api}/incidents/${input.id}`, html_url: `${web}/incidents/${input.id}`,
    number: input.number, status: input.status, incident_key: input.incidentKey ?? null, created_at: input.createdAt ?? new Date().toISOString(),
    title: input.title,
    service: ref('service', 'services', input.service.id, input.service.name),
    assignees: (input.assignees ?? []).map((a) => ref('user', 'users', a.id, a.name)),
    escalation_policy: ref('escalation_policy', 'escalation_policies', input.escalationPolicy?.id ?? 'PEP0001', input.escalationPolicy?.name ?? 'Default'),
    teams: [],
    priority: input.priority ? { id: 'PPRIO01', type: 'priority_reference', summary: input.priority, self: `${api}/priorities/PPRIO01`, html_url: `${web}/account/incident_priorities` } : null,
    urgency: input.urgency, conference_bridge: null, resolve_reason: null,
  };
}

/** A note object as `incident.annotated` carries it. */
export function buildWebhookNote(incident: { readonly id: string; readonly title: string }, note: { readonly id: string; readonly content: string }): Record<string, unknown> {
  return {
    id: note.id, type: 'incident_note', content: note.content, trimmed: false,
    incident: { id: incident.id, type: 'incident_reference', summary: incident.title, self: `https://api.pagerduty.com/incidents/${incident.id}`, html_url: `https://acme.pagerduty.com/incidents/${incident.id}` },
  };
}

/** A whole delivery body: `{ event: { id, event_type, resource_type, occurred_at, agent, client, data } }`. */
export function buildWebhookEvent(eventType: string, data: Record<string, unknown>, options: { readonly id?: string; readonly agent?: WebhookAgent; readonly occurredAt?: string } = {}): { event: Record<string, unknown> & { id: string; event_type: string } } {
  const agent = options.agent === undefined || options.agent === null
    ? null
    : { id: options.agent.id, type: 'user_reference', summary: options.agent.name, self: `https://api.pagerduty.com/users/${options.agent.id}`, html_url: `https://acme.pagerduty.com/users/${options.agent.id}` };
  return {
    event: {
      id: options.id ?? `01${randomUUID().replace(/-/g, '').slice(0, 24).toUpperCase()}`,
      event_type: eventType,
      resource_type: eventType.split('.')[0] ?? 'incident',
      occurred_at: options.occurredAt ?? new Date().toISOString(),
      agent,
      client: null,
      data,
    },
  };
}

/** Options of {@link deliverPagerDutyWebhook}; durations in milliseconds. */
export interface DeliverOptions {
  /** Extra secrets to sign with as well (PagerDuty rotating: several `v1=` entries). */
  readonly alsoSignWith?: readonly string[];
  /** Overrides the signature header (tests of bad signatures); `null` sends none. */
  readonly signature?: string | null;
  /** @default a new UUID per call (stable across this call's retries) */
  readonly webhookId?: string;
  /** Further tries after a non-2xx answer or a connection error. @default 0 */
  readonly retries?: number;
  /** @default 200 */
  readonly retryDelayMs?: number;
  /** Per-attempt deadline; PagerDuty's is 5 s. @default 5000 */
  readonly timeoutMs?: number;
}

export interface DeliveryResult {
  readonly status: number;
  readonly body: string;
  readonly attempts: number;
  readonly durationMs: number;
}

/** Posts one signed delivery to `url`; resolves with the last answer (status 0: no answer). */
export async function deliverPagerDutyWebhook(url: string, secret: string, event: unknown, options: DeliverOptions = {}): Promise<DeliveryResult> {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  const signature = options.signature === undefined ? [secret, ...(options.alsoSignWith ?? [])].map((s) => signPagerDutyBody(s, body)).join(',') : options.signature;
  const headers: Record<string, string> = {
    'content-type': 'application/json', 'user-agent': 'PagerDuty-Webhook/V3.0',
    'x-webhook-id': options.webhookId ?? randomUUID(), 'x-webhook-subscription': 'PSUBSTANDIN',
    ...(signature === null ? {} : { 'x-pagerduty-signature': signature }),
  };
  const started = performance.now();
  const tries = 1 + (options.retries ?? 0);
  let last = { status: 0, body: '' };
  for (let attempt = 1; attempt <= tries; attempt += 1) {
    try {
      const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? 5_000) });
      last = { status: response.status, body: await response.text() };
    } catch (error) {
      last = { status: 0, body: error instanceof Error ? error.message : String(error) };
    }
    // PagerDuty drops 4xx other than 429; it retries everything else that is not a 2xx.
    const final = (last.status >= 200 && last.status < 300) || (last.status >= 400 && last.status < 500 && last.status !== 429);
    if (final || attempt === tries) return { ...last, attempts: attempt, durationMs: performance.now() - started };
    await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 200));
  }
  return { ...last, attempts: tries, durationMs: performance.now() - started };
}

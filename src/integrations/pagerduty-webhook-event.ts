/**
 * The shape of a PagerDuty webhooks v3 delivery (REFERENCE.md §2.1), parsed at the edge with zod.
 * Unknown fields are kept (PagerDuty adds fields without notice); a wrong shape is reported as a
 * list of `path: problem` lines. The incident events this bot acts on must carry an incident in
 * `data`; `incident.annotated` carries a note that references its incident.
 */
import { z } from 'zod';

const reference = z.looseObject({ id: z.string().min(1), summary: z.string().optional(), type: z.string().optional(), html_url: z.string().optional() });

export const pagerDutyIncidentSchema = z.looseObject({
  id: z.string().min(1).max(64),
  type: z.string().optional(),
  title: z.string().max(10_000),
  html_url: z.string().optional(),
  self: z.string().optional(),
  number: z.number().int().optional(),
  status: z.enum(['triggered', 'acknowledged', 'resolved']).optional(),
  incident_key: z.string().nullish(),
  created_at: z.string().optional(),
  urgency: z.enum(['high', 'low']).optional(),
  service: reference,
  assignees: z.array(reference).optional(),
  escalation_policy: reference.nullish(),
  priority: reference.nullish(),
  resolve_reason: z.unknown().optional(),
});

export const pagerDutyNoteSchema = z.looseObject({
  id: z.string().optional(),
  type: z.literal('incident_note').optional(),
  content: z.string(),
  incident: reference,
});

export const pagerDutyEventSchema = z.looseObject({
  event: z.looseObject({
    id: z.string().min(1).max(200),
    event_type: z.string().min(1).max(200),
    resource_type: z.string().optional(),
    occurred_at: z.string().optional(),
    agent: reference.nullish(),
    client: z.looseObject({ name: z.string().optional() }).nullish(),
    data: z.looseObject({}),
  }),
});

export type PagerDutyWebhookIncident = z.infer<typeof pagerDutyIncidentSchema>;
export type PagerDutyWebhookNote = z.infer<typeof pagerDutyNoteSchema>;
export type PagerDutyWebhookEvent = z.infer<typeof pagerDutyEventSchema>['event'];

/** Event types whose `data` is an incident. */
export const INCIDENT_DATA_EVENTS: ReadonlySet<string> = new Set(['incident.triggered', 'incident.acknowledged', 'incident.resolved', 'incident.reassigned', 'incident.unacknowledged', 'incident.escalated', 'incident.priority_updated', 'incident.reopened', 'incident.delegated']);
/** Event types the bot acts on; others are acknowledged and ignored. */
export const HANDLED_EVENTS: ReadonlySet<string> = new Set(['incident.triggered', 'incident.acknowledged', 'incident.resolved', 'incident.reassigned', 'incident.annotated']);

export type ParsedPagerDutyEvent =
  | { readonly ok: true; readonly event: PagerDutyWebhookEvent; readonly incident?: PagerDutyWebhookIncident; readonly note?: PagerDutyWebhookNote }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Parses a delivery body (already JSON-decoded). For the event types the bot handles, `data` must
 * be an incident (or, for `incident.annotated`, a note on one); other types need only the envelope.
 */
export function parsePagerDutyEvent(body: unknown): ParsedPagerDutyEvent {
  const envelope = pagerDutyEventSchema.safeParse(body);
  if (!envelope.success) return { ok: false, problems: describe(envelope.error, []) };
  const event = envelope.data.event;
  if (!HANDLED_EVENTS.has(event.event_type)) return { ok: true, event };
  if (event.event_type === 'incident.annotated') {
    const note = pagerDutyNoteSchema.safeParse(event.data);
    return note.success ? { ok: true, event, note: note.data } : { ok: false, problems: describe(note.error, ['event', 'data']) };
  }
  const incident = pagerDutyIncidentSchema.safeParse(event.data);
  return incident.success ? { ok: true, event, incident: incident.data } : { ok: false, problems: describe(incident.error, ['event', 'data']) };
}

function describe(error: z.ZodError, at: readonly (string | number)[]): string[] {
  return error.issues.slice(0, 10).map((issue) => `${[...at, ...issue.path.map(String)].join('.') || 'body'}: ${issue.message}`);
}

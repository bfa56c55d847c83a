/**
 * The incident machine's decisions, kept apart from its shape so each is testable: whether an
 * event applies (and why not), what it changes in the context, and which effects it emits.
 * Pure: time comes in on events (`at`), never from a clock.
 */
import { formatDuration } from './durations.ts';
import type { EscalationRung } from './ir.ts';
import type {
  IncidentContext, IncidentEffect, IncidentEvent, IncidentInput, IncidentSource, IncidentStatus, TimelineEntry,
} from './incident-types.ts';
import type { Person } from './run-types.ts';
import { formatUtcDay } from './utc.ts';

/** Who the machine names as the actor of what nobody in particular did (a timer, a channel). */
export const SYSTEM: Person = { id: 'system', name: 'Runbook Bot' };

/** Slack's channel name limit. */
export const MAX_CHANNEL_NAME = 80;

/** Timer ids are unique within an incident; the engine prefixes the incident id to make job ids. */
export const incidentTimerIds = {
  ack: (rung: number) => `ack-${rung}`,
} as const;

/** `inc-<yyyymmdd>-<slug of title>` from `createdAt` in UTC: lowercase `[a-z0-9-]`, at most 80 characters. */
export function incidentChannelName(id: string, title: string, createdAt: number): string {
  const prefix = `inc-${formatUtcDay(createdAt)}-`;
  const slugOf = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const slug = slugOf(title).slice(0, MAX_CHANNEL_NAME - prefix.length).replace(/-+$/, '');
  return prefix + (slug || slugOf(id));
}

export function initialIncidentContext(input: IncidentInput): IncidentContext {
  return {
    id: input.id,
    title: input.title,
    severity: input.severity,
    source: input.source,
    declaredBy: input.declaredBy,
    createdAt: input.createdAt,
    pagerDuty: input.pagerDuty ?? null,
    slack: null,
    responders: input.responders ?? [],
    ackEscalation: input.ackEscalation ?? [],
    acknowledged: null,
    mitigating: null,
    resolved: null,
    runs: [],
    escalated: [],
    timeline: [
      {
        at: input.createdAt,
        type: 'incident.triggered',
        actor: input.declaredBy,
        text: `${input.severity.toUpperCase()} incident declared: ${input.title}`,
        data: { source: input.source, ...(input.pagerDuty ? { pagerDutyIncidentId: input.pagerDuty.incidentId } : {}) },
      },
    ],
  };
}

/** What creating an incident asks for: its channel, then one timer per acknowledgement rung. */
export function creationEffects(context: IncidentContext): IncidentEffect[] {
  return [
    { kind: 'incident.channel.create', name: incidentChannelName(context.id, context.title, context.createdAt), responders: context.responders },
    ...context.ackEscalation.map((rung, i): IncidentEffect => ({ kind: 'timer.schedule', timerId: incidentTimerIds.ack(i), delayMs: rung.afterMs, purpose: 'ack-escalation' })),
  ];
}

/** Why `event` changes nothing in `status`, or undefined when it applies. */
export function whyIncidentIgnored(status: IncidentStatus, context: IncidentContext, event: IncidentEvent): string | undefined {
  if (status === 'resolved') return 'incident_resolved';
  switch (event.type) {
    case 'incident.acknowledge':
      return status === 'triggered' ? undefined : 'already_acknowledged';
    case 'incident.mitigate':
      return status === 'mitigating' ? 'already_mitigating' : undefined;
    case 'incident.resolve':
      return undefined;
    case 'incident.note':
    case 'incident.alert':
    case 'incident.run_event':
      return event.text.trim() === '' ? 'empty_text' : undefined;
    case 'incident.reassigned':
      return event.to.length === 0 ? 'no_assignees' : undefined;
    case 'incident.channel_created':
      return context.slack ? 'channel_exists' : undefined;
    case 'incident.summary_posted':
      if (!context.slack) return 'no_channel';
      return context.slack.summaryTs === event.ts ? 'summary_unchanged' : undefined;
    case 'incident.pagerduty_linked':
      if (!context.pagerDuty) return undefined;
      return context.pagerDuty.incidentId === event.pagerDuty.incidentId ? 'already_linked' : 'linked_to_other_pagerduty_incident';
    case 'incident.run_started':
      return context.runs.includes(event.runId) ? 'run_already_linked' : undefined;
    case 'incident.run_finished':
      return context.timeline.some((t) => t.type === 'run.finished' && t.data?.['runId'] === event.runId) ? 'run_already_finished' : undefined;
    case 'timer.fired':
      return pendingAckRung(status, context, event.timerId) === undefined ? 'timer_not_pending' : undefined;
  }
}

/** The ack-escalation rung a timer stands for, while it still guards something. */
export function pendingAckRung(status: IncidentStatus, context: IncidentContext, timerId: string): number | undefined {
  const match = /^ack-(\d+)$/.exec(timerId);
  if (!match || status !== 'triggered') return undefined;
  const rung = Number(match[1]);
  return rung < context.ackEscalation.length && !context.escalated.includes(rung) ? rung : undefined;
}

/** The context change and effects of an event that applies (see {@link whyIncidentIgnored}). */
export interface IncidentStep {
  readonly context: IncidentContext;
  readonly effects: readonly IncidentEffect[];
}

/** Applies an event that {@link whyIncidentIgnored} let through. */
export function stepIncident(status: IncidentStatus, context: IncidentContext, event: IncidentEvent): IncidentStep {
  const at = event.at ?? context.createdAt;
  const summary: IncidentEffect = { kind: 'incident.summary.update' };
  const entry = (type: string, actor: Person, text: string, data?: Record<string, unknown>): TimelineEntry => ({ at, type, actor, text, ...(data ? { data } : {}) });
  const append = (ctx: IncidentContext, ...entries: TimelineEntry[]): IncidentContext => ({ ...ctx, timeline: [...ctx.timeline, ...entries] });
  switch (event.type) {
    case 'incident.acknowledge': {
      const next = append({ ...context, acknowledged: { by: event.by, at } }, entry('incident.acknowledged', event.by, `Acknowledged by ${nameOf(event.by)}`, { source: event.source }));
      return { context: next, effects: [...cancelAckTimers(context), ...syncToPagerDuty(context, event.source, 'acknowledged'), post(`✋ ${context.id} acknowledged by ${nameOf(event.by)}`), summary] };
    }
    case 'incident.mitigate': {
      const implied = status === 'triggered';
      const reason = event.reason?.trim();
      const entries = [
        ...(implied ? [entry('incident.acknowledged', event.by, `Acknowledged by ${nameOf(event.by)} (by starting mitigation)`, { source: event.source })] : []),
        entry('incident.mitigating', event.by, `Mitigation started by ${nameOf(event.by)}${reason ? `: ${reason}` : ''}`, { source: event.source }),
      ];
      const next = append({ ...context, ...(implied ? { acknowledged: { by: event.by, at } } : {}), mitigating: { by: event.by, at } }, ...entries);
      const effects = implied ? [...cancelAckTimers(context), ...syncToPagerDuty(context, event.source, 'acknowledged')] : [];
      return { context: next, effects: [...effects, post(`🛠 ${context.id} mitigating (${nameOf(event.by)})${reason ? `: ${reason}` : ''}`), summary] };
    }
    case 'incident.resolve': {
      const resolution = event.resolution?.trim() || undefined;
      const next = append({ ...context, resolved: { by: event.by, at, ...(resolution ? { resolution } : {}) } }, entry('incident.resolved', event.by, `Resolved by ${nameOf(event.by)}${resolution ? `: ${resolution}` : ''}`, { source: event.source }));
      const cancels = status === 'triggered' ? cancelAckTimers(context) : [];
      return { context: next, effects: [...cancels, ...syncToPagerDuty(context, event.source, 'resolved', resolution), post(`✅ ${context.id} resolved by ${nameOf(event.by)}${resolution ? `: ${resolution}` : ''}`), summary] };
    }
    case 'incident.note':
      return { context: append(context, entry('note.added', event.by, event.text.trim())), effects: [summary] };
    case 'incident.alert':
      return { context: append(context, entry('alert.received', event.by, event.text.trim(), event.data ? { ...event.data } : undefined)), effects: [summary] };
    case 'incident.run_event':
      return { context: append(context, entry('run.event', event.by, event.text.trim(), { runId: event.runId })), effects: [summary] };
    case 'incident.reassigned':
      return { context: append(context, entry('incident.reassigned', event.by, `Reassigned to ${event.to.join(', ')}`, { to: [...event.to] })), effects: [summary] };
    case 'incident.channel_created':
      return { context: append({ ...context, slack: event.channel }, entry('channel.created', SYSTEM, `Slack channel #${event.channel.name} created`, { channelId: event.channel.channelId })), effects: [summary] };
    case 'incident.summary_posted':
      // Bookkeeping of the summary effect itself: no timeline entry, and no summary update (that would loop).
      return { context: { ...context, slack: context.slack ? { ...context.slack, summaryTs: event.ts } : null }, effects: [] };
    case 'incident.pagerduty_linked':
      return { context: append({ ...context, pagerDuty: event.pagerDuty }, entry('pagerduty.linked', SYSTEM, `Linked to PagerDuty incident ${event.pagerDuty.number !== undefined ? `#${event.pagerDuty.number}` : event.pagerDuty.incidentId}`, { pagerDutyIncidentId: event.pagerDuty.incidentId })), effects: [summary] };
    case 'incident.run_started':
      return {
        context: append({ ...context, runs: [...context.runs, event.runId] }, entry('run.started', event.by, `${event.auto ? 'Auto-started' : 'Started'} runbook ${event.runbookId} (run ${event.runId})`, { runId: event.runId, runbookId: event.runbookId, auto: event.auto })),
        effects: [summary],
      };
    case 'incident.run_finished':
      return { context: append(context, entry('run.finished', SYSTEM, `Run ${event.runId} of ${event.runbookId} ${event.status}`, { runId: event.runId, runbookId: event.runbookId, status: event.status })), effects: [summary] };
    case 'timer.fired':
      return escalate(status, context, event.timerId, at, entry);
  }
}

function escalate(status: IncidentStatus, context: IncidentContext, timerId: string, at: number, entry: (type: string, actor: Person, text: string, data?: Record<string, unknown>) => TimelineEntry): IncidentStep {
  const rung = pendingAckRung(status, context, timerId) ?? 0;
  const spec: EscalationRung | undefined = context.ackEscalation[rung];
  const reason = `not acknowledged within ${formatDuration(spec?.afterMs ?? at - context.createdAt)}`;
  const actions = [
    ...(spec?.notify && spec.notify.length > 0 ? [`reminded ${spec.notify.join(', ')}`] : []),
    ...(spec?.page ? [`paged ${spec.page.escalationPolicy ? `escalation policy ${spec.page.escalationPolicy}` : `service ${spec.page.service ?? ''}`}`] : []),
  ];
  const text = `Escalation ${rung + 1}: ${reason}${actions.length > 0 ? `; ${actions.join(' and ')}` : ''}`;
  const fire: IncidentEffect = {
    kind: 'escalation.fire',
    rung,
    reason,
    ...(spec?.notify && spec.notify.length > 0 ? { notify: spec.notify } : {}),
    ...(spec?.page ? { page: spec.page } : {}),
  };
  const next: IncidentContext = { ...context, escalated: [...context.escalated, rung], timeline: [...context.timeline, entry('escalation.fired', SYSTEM, text, { rung, timerId })] };
  return { context: next, effects: [fire, { kind: 'incident.summary.update' }] };
}

/** Timers of rungs that have not fired yet: acknowledging (or resolving) makes them moot. */
function cancelAckTimers(context: IncidentContext): IncidentEffect[] {
  return context.ackEscalation.flatMap((_, i) => (context.escalated.includes(i) ? [] : [{ kind: 'timer.cancel' as const, timerId: incidentTimerIds.ack(i) }]));
}

/** A move made here is mirrored to PagerDuty; one PagerDuty told us about is not echoed back. */
function syncToPagerDuty(context: IncidentContext, source: IncidentSource, status: 'acknowledged' | 'resolved', resolution?: string): IncidentEffect[] {
  if (!context.pagerDuty || source === 'pagerduty') return [];
  return [{ kind: 'pagerduty.status', status, ...(resolution ? { resolution } : {}) }];
}

function post(text: string): IncidentEffect {
  return { kind: 'incident.post', text };
}

export function nameOf(person: Person): string {
  return person.name ?? person.id;
}

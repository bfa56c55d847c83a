/**
 * What the audit log says about an incident transition: the event that caused it (who did what)
 * and the effects it is about to perform (escalation fired, PagerDuty sync requested, timers).
 * Ids are `<incidentId>.<version>.<n>`, so a retried drain appends nothing twice.
 */
import type { AuditRecordInput } from '../audit/index.ts';
import type { IncidentContext, IncidentEffect, IncidentEvent } from '../machines/incident-types.ts';

const EVENT_TYPES: Readonly<Record<IncidentEvent['type'], string>> = {
  'incident.acknowledge': 'incident.acknowledged',
  'incident.mitigate': 'incident.mitigating',
  'incident.resolve': 'incident.resolved',
  'incident.note': 'incident.note_added',
  'incident.alert': 'incident.alert_received',
  'incident.reassigned': 'incident.reassigned',
  'incident.channel_created': 'incident.channel_created',
  'incident.summary_posted': 'incident.summary_posted',
  'incident.pagerduty_linked': 'incident.pagerduty_linked',
  'incident.run_started': 'incident.run_started',
  'incident.run_finished': 'incident.run_finished',
  'incident.run_event': 'incident.run_event',
  'timer.fired': 'incident.timer_fired',
};

/** Effects worth a record of their own; summary refreshes are not. */
const EFFECT_TYPES: Partial<Readonly<Record<IncidentEffect['kind'], string>>> = {
  'incident.channel.create': 'incident.channel_requested',
  'incident.post': 'incident.posted',
  'pagerduty.status': 'incident.pagerduty_sync_requested',
  'pagerduty.note': 'incident.pagerduty_note_requested',
  'timer.schedule': 'incident.timer_scheduled',
  'timer.cancel': 'incident.timer_cancelled',
  'escalation.fire': 'incident.escalated',
};

export function incidentActorOf(event: IncidentEvent): string {
  return 'by' in event ? event.by.id : 'system';
}

function record(incidentId: string, id: string, at: number, actor: string, type: string, data: unknown, runId?: string): AuditRecordInput {
  return { id, at, incidentId, ...(runId ? { runId } : {}), actor, type, data };
}

/** Records for the transition to `version` caused by `event`, or for the declaration (version 1). */
export function incidentRecords(incidentId: string, version: number, at: number, cause: IncidentEvent | { type: 'incident.declared'; context: IncidentContext }, effects: readonly IncidentEffect[]): AuditRecordInput[] {
  const first = cause.type === 'incident.declared'
    ? record(incidentId, `${incidentId}.${version}.0`, at, cause.context.declaredBy.id, 'incident.declared', {
      title: cause.context.title, severity: cause.context.severity, source: cause.context.source, declaredBy: cause.context.declaredBy,
      pagerDuty: cause.context.pagerDuty, responders: cause.context.responders, ackEscalation: cause.context.ackEscalation,
    })
    : record(incidentId, `${incidentId}.${version}.0`, at, incidentActorOf(cause), EVENT_TYPES[cause.type], cause, 'runId' in cause ? cause.runId : undefined);
  const rest = effects.flatMap((effect, i) => {
    const type = EFFECT_TYPES[effect.kind];
    return type ? [record(incidentId, `${incidentId}.${version}.${i + 1}`, at, 'system', type, effect)] : [];
  });
  return [first, ...rest];
}

/** A record of an event that changed nothing (a second ack, a timer after the ack, a resolved incident). */
export function incidentIgnoredRecord(incidentId: string, at: number, event: IncidentEvent, reason: string, fingerprint: string): AuditRecordInput {
  return record(incidentId, `${incidentId}.ignored.${fingerprint}`, at, incidentActorOf(event), 'incident.event_ignored', { reason, event });
}

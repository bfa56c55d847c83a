/**
 * What a run started for an incident sees as `{{ incident.* }}`: one shape whichever way the run
 * was started (auto-started by PagerDuty, or typed in the incident's channel), with exactly the
 * fields the runbook linter accepts (`INCIDENT_FIELDS`).
 */
import type { IncidentRecord } from '../engine/incident-port.ts';
import type { INCIDENT_FIELDS } from '../machines/template-rules.ts';

/** The `incident` of a `StartRunRequest`: its id first (the engine links the run by it). */
export type IncidentTemplateContext = { readonly id: string } & Readonly<Partial<Record<(typeof INCIDENT_FIELDS)[number], string | null>>>;

/** The template context of `incident`, absent fields left out. */
export function incidentTemplateContext(incident: IncidentRecord): IncidentTemplateContext {
  const { context } = incident;
  const pd = context.pagerDuty;
  return {
    id: incident.id,
    title: context.title,
    severity: context.severity,
    status: incident.status,
    ...(pd?.incidentId ? { pagerduty_id: pd.incidentId } : {}),
    ...(pd?.serviceName ?? pd?.serviceId ? { service: pd.serviceName ?? pd.serviceId ?? null } : {}),
    ...(pd?.urgency ? { urgency: pd.urgency } : {}),
    ...(pd?.htmlUrl ? { url: pd.htmlUrl } : {}),
    ...(context.slack ? { channel: context.slack.channelId } : {}),
  };
}

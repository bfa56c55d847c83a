/**
 * A postmortem-ready timeline of an incident (`runbook incident timeline <id> --format md|json`):
 * title, severity, PagerDuty link, who acknowledged and resolved it and when, time to acknowledge
 * and to resolve, the runs with their final states, then every timeline entry in UTC. Pure: the
 * caller passes the incident and, when it has them, the runs' current states.
 */
import { formatDuration } from './durations.ts';
import type { IncidentContext, IncidentStatus, TimelineEntry } from './incident-types.ts';
import type { Person } from './run-types.ts';
import { formatUtc } from './utc.ts';

/** The part of a stored incident the renderer reads. */
export interface TimelineIncident {
  readonly id: string;
  readonly status: IncidentStatus;
  readonly context: IncidentContext;
}

/** A run's state as the run store knows it (it may have finished after the incident was resolved). */
export interface TimelineRun {
  readonly id: string;
  readonly runbookId: string;
  readonly status: string;
}

export interface IncidentTimelineView {
  readonly id: string;
  readonly title: string;
  readonly severity: string;
  readonly status: IncidentStatus;
  readonly declared: { readonly at: string; readonly by: Person; readonly source: string };
  readonly pagerDuty: { readonly incidentId: string; readonly number?: number; readonly url?: string } | null;
  readonly slackChannel: { readonly id: string; readonly name: string } | null;
  readonly acknowledged: { readonly at: string; readonly by: Person; readonly afterMs: number } | null;
  readonly mitigating: { readonly at: string; readonly by: Person; readonly afterMs: number } | null;
  readonly resolved: { readonly at: string; readonly by: Person; readonly afterMs: number; readonly resolution?: string } | null;
  readonly escalations: number;
  readonly runs: readonly TimelineRun[];
  readonly timeline: readonly { readonly at: string; readonly type: string; readonly actor: Person; readonly text: string }[];
}

const iso = (ms: number) => formatUtc(ms);

/** The structured form (`--format json`); the Markdown form is rendered from it. */
export function incidentTimelineView(incident: TimelineIncident, runs: readonly TimelineRun[] = []): IncidentTimelineView {
  const c = incident.context;
  const since = (at: number) => at - c.createdAt;
  return {
    id: incident.id,
    title: c.title,
    severity: c.severity,
    status: incident.status,
    declared: { at: iso(c.createdAt), by: c.declaredBy, source: c.source },
    pagerDuty: c.pagerDuty ? { incidentId: c.pagerDuty.incidentId, ...(c.pagerDuty.number !== undefined ? { number: c.pagerDuty.number } : {}), ...(c.pagerDuty.htmlUrl ? { url: c.pagerDuty.htmlUrl } : {}) } : null,
    slackChannel: c.slack ? { id: c.slack.channelId, name: c.slack.name } : null,
    acknowledged: c.acknowledged ? { at: iso(c.acknowledged.at), by: c.acknowledged.by, afterMs: since(c.acknowledged.at) } : null,
    mitigating: c.mitigating ? { at: iso(c.mitigating.at), by: c.mitigating.by, afterMs: since(c.mitigating.at) } : null,
    resolved: c.resolved ? { at: iso(c.resolved.at), by: c.resolved.by, afterMs: since(c.resolved.at), ...(c.resolved.resolution ? { resolution: c.resolved.resolution } : {}) } : null,
    escalations: c.escalated.length,
    runs: runsOf(c, runs),
    timeline: [...c.timeline].sort((a, b) => a.at - b.at).map((t: TimelineEntry) => ({ at: iso(t.at), type: t.type, actor: t.actor, text: t.text })),
  };
}

/** Markdown a postmortem can start from. */
export function renderIncidentTimeline(incident: TimelineIncident, runs: readonly TimelineRun[] = []): string {
  const v = incidentTimelineView(incident, runs);
  const moved = (m: { at: string; by: Person; afterMs: number } | null, label: string) => (m ? `${m.at} by ${who(m.by)} (${label} ${formatDuration(m.afterMs)})` : 'no');
  const facts: [string, string][] = [
    ['Severity', v.severity.toUpperCase()],
    ['Status', v.status],
    ['Declared', `${v.declared.at} by ${who(v.declared.by)} (via ${v.declared.source})`],
    ['PagerDuty', v.pagerDuty ? pagerDutyLink(v.pagerDuty) : 'none'],
    ['Slack channel', v.slackChannel ? `#${v.slackChannel.name}` : 'none'],
    ['Acknowledged', moved(v.acknowledged, 'time to acknowledge')],
    ['Mitigation started', moved(v.mitigating, 'after')],
    ['Resolved', moved(v.resolved, 'time to resolve')],
    ...(v.resolved?.resolution ? [['Resolution', v.resolved.resolution] as [string, string]] : []),
    ['Escalations fired', String(v.escalations)],
  ];
  const lines = [
    `# ${v.id}: ${cell(v.title)}`,
    '',
    '| | |',
    '| --- | --- |',
    ...facts.map(([k, value]) => `| ${k} | ${cell(value)} |`),
    '',
    '## Runs',
    '',
    ...(v.runs.length === 0 ? ['No runs were started for this incident.'] : ['| Run | Runbook | Final state |', '| --- | --- | --- |', ...v.runs.map((r) => `| ${cell(r.id)} | ${cell(r.runbookId)} | ${cell(r.status)} |`)]),
    '',
    '## Timeline (UTC)',
    '',
    '| Time | Event | Who | What |',
    '| --- | --- | --- | --- |',
    ...v.timeline.map((t) => `| ${t.at.replace(/ UTC$/, '')} | ${t.type} | ${cell(who(t.actor))} | ${cell(t.text)} |`),
  ];
  return `${lines.join('\n')}\n`;
}

function runsOf(c: IncidentContext, known: readonly TimelineRun[]): TimelineRun[] {
  const byId = new Map(known.map((r) => [r.id, r]));
  return c.runs.map((runId) => {
    const stored = byId.get(runId);
    if (stored) return stored;
    const started = c.timeline.find((t) => t.type === 'run.started' && t.data?.['runId'] === runId);
    const finished = c.timeline.find((t) => t.type === 'run.finished' && t.data?.['runId'] === runId);
    return { id: runId, runbookId: String(started?.data?.['runbookId'] ?? finished?.data?.['runbookId'] ?? 'unknown'), status: String(finished?.data?.['status'] ?? 'unknown') };
  });
}

function pagerDutyLink(pd: NonNullable<IncidentTimelineView['pagerDuty']>): string {
  const label = pd.number !== undefined ? `#${pd.number} (${pd.incidentId})` : pd.incidentId;
  return pd.url ? `[${label}](${pd.url})` : label;
}

function who(person: Person): string {
  return person.name && person.name !== person.id ? `${person.name} (${person.id})` : person.id;
}

/** A table cell: one line, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

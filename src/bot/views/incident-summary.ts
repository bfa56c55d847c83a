/**
 * The incident's pinned summary, pure: rendered from the incident's CURRENT state (and the current
 * state of its runs) every time, never from the event that asked for it, so a summary can never
 * go back to an older state. Everything a person typed (title, resolution, names, timeline text)
 * is escaped: a title of `<!channel>` shows as text and pings nobody.
 */
import type { types } from '@slack/bolt';
import type { IncidentRecord } from '../../engine/incident-port.ts';
import type { IncidentStatus, Severity, TimelineEntry } from '../../machines/incident-types.ts';
import type { Person } from '../../machines/run-types.ts';
import { formatDuration, formatPerson, inline, slackTime } from '../run-message/format.ts';
import type { BotMessage } from '../ports.ts';
import { contextLine, section } from './blocks.ts';

/** A run of the incident as the summary shows it. */
export interface IncidentRunSummary {
  readonly id: string;
  readonly runbookId: string;
  /** The run's status (`active`, `succeeded` …); `unknown` when the run could not be read. */
  readonly status: string;
}

/** Options of {@link renderIncidentSummary}. */
export interface IncidentSummaryOptions {
  /** Now, for "triggered 12m ago". */
  readonly now: number;
  /** The incident's runs with their states, in the incident's order; ids alone when absent. */
  readonly runs?: readonly IncidentRunSummary[];
  /** How many of the latest timeline entries to show. @default 6 */
  readonly timelineEntries?: number;
}

const STATUS_ICON: Readonly<Record<IncidentStatus, string>> = { triggered: '🔴', acknowledged: '🟠', mitigating: '🟡', resolved: '🟢' };
const SEVERITY_ICON: Readonly<Record<Severity, string>> = { sev1: '🚨', sev2: '🔥', sev3: '⚠️' };
const RUN_ICON: Readonly<Record<string, string>> = { active: '⏳', succeeded: '✅', failed: '❌', cancelled: '⛔', rejected: '🚫', rolled_back: '↩️' };

/** Every block and the fallback text of the summary. */
export function renderIncidentSummary(incident: IncidentRecord, options: IncidentSummaryOptions): BotMessage {
  const c = incident.context;
  const title = `${SEVERITY_ICON[c.severity]} *${inline(c.id, 40)} · ${inline(c.title, 150)}*`;
  const facts = [
    `*Status:* ${STATUS_ICON[incident.status]} ${statusLine(incident)}`,
    `*Severity:* ${c.severity.toUpperCase()}`,
    `*Declared by:* ${formatPerson(c.declaredBy)} at ${slackTime(c.createdAt)} (${inline(c.source, 20)})`,
    `*${c.resolved ? 'Lasted' : 'Triggered'}:* ${formatDuration((c.resolved?.at ?? options.now) - c.createdAt)}${c.resolved ? '' : ' ago'}`,
    ...(c.pagerDuty ? [`*PagerDuty:* ${pagerDutyLink(c.pagerDuty)}`] : []),
    ...(c.responders.length > 0 ? [`*Responders:* ${c.responders.slice(0, 20).map((id) => formatPerson({ id })).join(' ')}`] : []),
  ];
  const blocks: types.KnownBlock[] = [section(title), section(facts.join('\n'))];
  if (c.resolved?.resolution) blocks.push(section(`*Resolution:* ${inline(c.resolved.resolution, 1_000)}`));
  blocks.push(section(`*Runs:*\n${runLines(c.runs, options.runs)}`));
  blocks.push(section(`*Latest:*\n${timelineLines(c.timeline, options.timelineEntries ?? 6)}`));
  blocks.push(contextLine(incident.status === 'resolved'
    ? `Resolved. Updated ${slackTime(incident.updatedAt)}.`
    : `Updated ${slackTime(incident.updatedAt)} · \`/runbook incident ack\` · \`/runbook incident resolve [resolution]\` · \`/runbook incident status\``));
  const text = `${inline(c.id, 40)} ${inline(c.title, 150)} (${c.severity}): ${incident.status}`;
  return { text, blocks };
}

/** `acknowledged by <@U1> at <date>`: the latest move with who and when. */
export function statusLine(incident: IncidentRecord): string {
  const c = incident.context;
  const move = (verb: string, by: Person, at: number) => `${verb} by ${formatPerson(by)} at ${slackTime(at)}`;
  switch (incident.status) {
    case 'resolved':
      return c.resolved ? move('Resolved', c.resolved.by, c.resolved.at) : 'Resolved';
    case 'mitigating':
      return c.mitigating ? move('Mitigating', c.mitigating.by, c.mitigating.at) : 'Mitigating';
    case 'acknowledged':
      return c.acknowledged ? move('Acknowledged', c.acknowledged.by, c.acknowledged.at) : 'Acknowledged';
    case 'triggered':
      return 'Triggered, not acknowledged yet';
  }
}

function pagerDutyLink(ref: NonNullable<IncidentRecord['context']['pagerDuty']>): string {
  const label = inline(ref.number !== undefined ? `#${ref.number}` : ref.incidentId, 60);
  const service = ref.serviceName ? ` on ${inline(ref.serviceName, 80)}` : '';
  // Only http(s) URLs become links; `|` and `>` would end the link early.
  const url = ref.htmlUrl && /^https?:\/\/[^\s<>|]+$/.test(ref.htmlUrl) ? ref.htmlUrl : undefined;
  return `${url ? `<${url}|${label}>` : label}${service}`;
}

function runLines(ids: readonly string[], runs: readonly IncidentRunSummary[] | undefined): string {
  if (ids.length === 0) return '_none yet_ — type `/runbook <runbook> …` here to start one for this incident';
  const byId = new Map((runs ?? []).map((r) => [r.id, r]));
  const shown = ids.slice(-10).map((id) => {
    const run = byId.get(id);
    if (!run) return `• \`${inline(id, 40)}\``;
    return `• ${RUN_ICON[run.status] ?? '•'} \`${inline(run.runbookId, 60)}\` \`${inline(run.id, 40)}\` — ${inline(run.status.replace(/_/g, ' '), 30)}`;
  });
  return `${ids.length > shown.length ? `…${ids.length - shown.length} earlier\n` : ''}${shown.join('\n')}`;
}

function timelineLines(timeline: readonly TimelineEntry[], count: number): string {
  if (timeline.length === 0) return '_nothing yet_';
  return timeline.slice(-count).map((e) => `• ${slackTime(e.at)} ${inline(e.text, 300)} — ${formatPerson(e.actor)}`).join('\n');
}

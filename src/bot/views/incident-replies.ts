/**
 * The ephemeral replies of `/runbook incident …`, pure: what was declared and where its channel
 * is, what a move did (or why it changed nothing), and how to find an incident channel when the
 * command was typed elsewhere.
 */
import type { IncidentRecord, IncidentSendResult } from '../../engine/incident-port.ts';
import { INCIDENT_USAGE } from '../grammar.ts';
import type { BotMessage } from '../ports.ts';
import { code, escapeText, paragraphs } from './blocks.ts';
import { statusLine } from './incident-summary.ts';

/** A move typed in Slack. */
export type IncidentMove = 'ack' | 'mitigate' | 'resolve';

const DONE: Readonly<Record<IncidentMove, string>> = { ack: '✋ You acknowledged', mitigate: '🛠 You marked as mitigating', resolve: '✅ You resolved' };

const channelOf = (incident: IncidentRecord) => (incident.context.slack ? `<#${incident.context.slack.channelId}>` : undefined);
const label = (incident: IncidentRecord) => `*${escapeText(incident.id)}* (${incident.context.severity.toUpperCase()}: ${escapeText(incident.context.title)})`;

/** The incident was declared (or, from a retried request, already had been). */
export function declaredReply(incident: IncidentRecord, created: boolean): BotMessage {
  const channel = channelOf(incident);
  return paragraphs(
    `🚨 ${created ? 'Declared' : 'Already declared:'} ${label(incident)}.`,
    channel
      ? `Its channel is ${channel}: you are in it, and the summary is pinned there. Type \`/runbook incident ack\` there to acknowledge.`
      : 'Its channel is being created; you will be invited, and the summary will be pinned there. Then type `/runbook incident ack` in it to acknowledge.',
  );
}

/** What a move did. */
export function moveReply(move: IncidentMove, result: IncidentSendResult): BotMessage {
  const { incident } = result;
  if (result.applied) return paragraphs(`${DONE[move]} ${label(incident)}. PagerDuty and the pinned summary follow.`);
  return paragraphs(`ℹ️ ${label(incident)} was not changed: ${escapeText(describeReason(result.reason, incident))}.`, `Now: ${statusLine(incident)}.`);
}

/** Why an incident move changed nothing, in words. */
export function describeReason(reason: string | undefined, incident: IncidentRecord): string {
  switch (reason) {
    case 'already_acknowledged':
      return 'it is already acknowledged';
    case 'already_mitigating':
      return 'it is already being mitigated';
    case 'incident_resolved':
    case 'already_resolved':
      return 'it is already resolved';
    default:
      return reason ? `${reason.replace(/_/g, ' ')} (status ${incident.status})` : `its status is ${incident.status}`;
  }
}

/** A move or `status` typed outside any incident channel. */
export function notInIncidentChannelReply(command: string, recent: readonly IncidentRecord[]): BotMessage {
  const open = recent.filter((i) => i.status !== 'resolved').slice(0, 5);
  const list = open.map((i) => `• ${label(i)} ${channelOf(i) ?? '(channel being created)'}`);
  return paragraphs(
    `⚠️ ${code(command)} works in an incident's channel, and this channel belongs to no incident. Nothing was done.`,
    open.length > 0
      ? `Open incidents:\n${list.join('\n')}\nType the command in the incident's channel, or \`/runbook incident status INC-<n>\` anywhere.`
      : `There are no open incidents. Declare one with \`${escapeText(INCIDENT_USAGE.declare)}\`.`,
  );
}

/** `/runbook incident status INC-9` named no incident. */
export function incidentNotFoundReply(typed: string): BotMessage {
  return paragraphs(`🤷 There is no incident ${code(typed)}. Incident ids look like \`INC-12\`; \`/runbook incident status\` in an incident channel shows that one.`);
}

/** The deployment runs without the incident service. */
export function incidentsDisabledReply(): BotMessage {
  return paragraphs('⚠️ Incidents are not enabled on this deployment (the bot was started without the incident service). Nothing was done.');
}

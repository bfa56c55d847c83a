/**
 * Posting, pinning and editing an incident's summary message. The `ts` of the summary is stored in
 * Redis (SET NX) the moment Slack answers the post, before the incident service hears of it, so a
 * job redelivered in between edits that message instead of posting a second one; a post whose
 * reply was lost is found again by its message metadata (`conversations.history`).
 */
import type { WebClient } from '@slack/web-api';
import type { Redis } from 'ioredis';
import type { EngineLogger } from '../engine/engine.ts';
import type { IncidentRecord } from '../engine/incident-port.ts';
import { toSlackCallError } from '../integrations/slack.ts';
import { CodedError } from '../shared/coded-error.ts';
import type { BotMessage } from './ports.ts';

/** Metadata event type that marks an incident summary message. */
export const INCIDENT_SUMMARY_EVENT_TYPE = 'runbook_incident_summary';

/** What {@link postIncidentSummary} needs. */
export interface SummaryPostDeps {
  readonly slack: WebClient;
  readonly redis: Redis;
  /** Where the summary's `ts` is kept (`<key>:uncertain` marks a post whose reply was lost). */
  readonly key: string;
  readonly retentionMs: number;
  readonly logger: EngineLogger;
}

/**
 * Shows `content` as the incident's summary: posts and pins it when there is none, else edits it.
 * `firstTs` is set when the incident service must be told the summary's `ts` (a new post, or one
 * it has not heard of yet).
 */
export async function postIncidentSummary(deps: SummaryPostDeps, incident: IncidentRecord, content: BotMessage): Promise<{ readonly ts: string; readonly firstTs?: string }> {
  const channel = incident.context.slack?.channelId;
  if (!channel) throw new CodedError('incident_channel_missing', `incident ${incident.id} has no Slack channel yet`, { retryable: true });
  const known = incident.context.slack?.summaryTs;
  let ts = known ?? (await deps.redis.get(deps.key)) ?? (await findLostPost(deps, incident.id, channel));
  if (ts === undefined || ts === null) {
    ts = await post(deps, incident.id, channel, content);
  } else {
    try {
      await deps.slack.chat.update({ channel, ts, text: content.text, blocks: [...(content.blocks ?? [])] });
    } catch (error) {
      const failure = toSlackCallError(error, 'chat.update');
      if (failure.slackError !== 'message_not_found') throw failure;
      deps.logger.warn({ incidentId: incident.id, ts }, 'the incident summary is gone; posting and pinning it again');
      await deps.redis.del(deps.key);
      ts = await post(deps, incident.id, channel, content);
    }
  }
  return ts === known ? { ts } : { ts, firstTs: ts };
}

async function post(deps: SummaryPostDeps, incidentId: string, channel: string, content: BotMessage): Promise<string> {
  let ts: string | undefined;
  try {
    const reply = await deps.slack.chat.postMessage({
      channel, text: content.text, blocks: [...(content.blocks ?? [])], unfurl_links: false, unfurl_media: false,
      metadata: { event_type: INCIDENT_SUMMARY_EVENT_TYPE, event_payload: { incident_id: incidentId } },
    });
    ts = reply.ts;
  } catch (error) {
    const failure = toSlackCallError(error, 'chat.postMessage');
    if (failure.mayHaveApplied) await deps.redis.set(`${deps.key}:uncertain`, '1', 'PX', 86_400_000);
    throw failure;
  }
  if (!ts) throw new CodedError('slack_reply_invalid', 'chat.postMessage answered without a ts', { retryable: true });
  if ((await deps.redis.set(deps.key, ts, 'PX', deps.retentionMs, 'NX')) !== 'OK') ts = (await deps.redis.get(deps.key)) ?? ts;
  await deps.redis.del(`${deps.key}:uncertain`);
  await pin(deps, channel, ts);
  return ts;
}

async function pin(deps: SummaryPostDeps, channel: string, ts: string): Promise<void> {
  try {
    await deps.slack.pins.add({ channel, timestamp: ts });
  } catch (error) {
    const failure = toSlackCallError(error, 'pins.add');
    if (failure.slackError !== 'already_pinned') throw failure;
  }
}

/** After a post whose reply was lost: the summary it may have made, pinned now if it was not. */
async function findLostPost(deps: SummaryPostDeps, incidentId: string, channel: string): Promise<string | undefined> {
  if (!(await deps.redis.exists(`${deps.key}:uncertain`))) return undefined;
  const history = await deps.slack.conversations.history({ channel, limit: 100, include_all_metadata: true })
    .catch((error: unknown) => Promise.reject(toSlackCallError(error, 'conversations.history')));
  const found = history.messages?.find((m) => m.metadata?.event_type === INCIDENT_SUMMARY_EVENT_TYPE && (m.metadata.event_payload as Record<string, unknown> | undefined)?.['incident_id'] === incidentId);
  if (!found?.ts) return undefined;
  await deps.redis.set(deps.key, found.ts, 'PX', deps.retentionMs);
  await deps.redis.del(`${deps.key}:uncertain`);
  await pin(deps, channel, found.ts);
  return found.ts;
}

/**
 * The incident channel (issue 6): `conversations.create` under the name the incident machine
 * chose (`inc-<yyyymmdd>-<slug>`), `-2`, `-3` … when that name is taken, then the responders
 * invited. Idempotent across redelivery of the effect job: the channel made for an incident is
 * recorded in Redis the moment Slack answers, and the name being tried is recorded before each
 * `conversations.create`, so a job whose reply was lost finds its channel (same name, made by this
 * bot, after the incident began) instead of making a second one.
 */
import type { WebClient } from '@slack/web-api';
import type { Redis } from 'ioredis';
import type { EngineLogger } from '../engine/engine.ts';
import type { IncidentRecord } from '../engine/incident-port.ts';
import type { SlackChannelRef } from '../machines/incident-types.ts';
import { SlackCallError, SLACK_CALL_ERROR_CODES, toSlackCallError } from '../integrations/slack.ts';

/** The Redis keys of the incident channel. */
export function incidentChannelKeys(prefix: string) {
  return {
    channel: (incidentId: string) => `${prefix}:slack:incident-channel:${incidentId}`,
    trying: (incidentId: string) => `${prefix}:slack:incident-channel-trying:${incidentId}`,
  };
}

/** What {@link ensureIncidentChannel} needs. */
export interface IncidentChannelDeps {
  readonly slack: WebClient;
  readonly redis: Redis;
  readonly prefix: string;
  readonly logger: EngineLogger;
  /** How many suffixes (`-2` … `-n`) to try before giving up. @default 20 */
  readonly maxSuffix?: number;
  /** How long Redis remembers the channel of an incident. @default 90 days */
  readonly retentionMs?: number;
}

/** Slack's channel name rules: lowercase letters, digits, `-` and `_`, at most 80 characters. */
export function channelNameWithSuffix(base: string, n: number): string {
  const clean = base.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '') || 'incident';
  const suffix = n <= 1 ? '' : `-${n}`;
  return `${clean.slice(0, 80 - suffix.length).replace(/-$/, '')}${suffix}`;
}

/** Creates (or finds the already created) channel of `incident` and invites `responders`. */
export async function ensureIncidentChannel(deps: IncidentChannelDeps, incident: IncidentRecord, baseName: string, responders: readonly string[]): Promise<SlackChannelRef> {
  const keys = incidentChannelKeys(deps.prefix);
  const retentionMs = deps.retentionMs ?? 90 * 86_400_000;
  const recorded = incident.context.slack ?? (await readRef(deps.redis, keys.channel(incident.id)));
  const channel = recorded ?? (await createChannel(deps, incident, baseName));
  if (!recorded) await deps.redis.set(keys.channel(incident.id), JSON.stringify(channel), 'PX', retentionMs);
  await invite(deps, channel, responders);
  return channel;
}

async function readRef(redis: Redis, key: string): Promise<SlackChannelRef | undefined> {
  const text = await redis.get(key);
  return text ? (JSON.parse(text) as SlackChannelRef) : undefined;
}

async function createChannel(deps: IncidentChannelDeps, incident: IncidentRecord, baseName: string): Promise<SlackChannelRef> {
  const keys = incidentChannelKeys(deps.prefix);
  const triedBefore = await deps.redis.smembers(keys.trying(incident.id));
  const maxSuffix = deps.maxSuffix ?? 20;
  for (let n = 1; n <= maxSuffix; n += 1) {
    const name = channelNameWithSuffix(baseName, n);
    await deps.redis.sadd(keys.trying(incident.id), name);
    await deps.redis.pexpire(keys.trying(incident.id), 7 * 86_400_000);
    try {
      const reply = await deps.slack.conversations.create({ name, is_private: false });
      if (!reply.channel?.id) throw new SlackCallError(SLACK_CALL_ERROR_CODES.requestFailed, 'Slack conversations.create answered without a channel id', { method: 'conversations.create', retryable: true, mayHaveApplied: true });
      deps.logger.info({ incidentId: incident.id, channel: reply.channel.id, name: reply.channel.name ?? name }, 'incident channel created');
      return { channelId: reply.channel.id, name: reply.channel.name ?? name };
    } catch (error) {
      const failure = toSlackCallError(error, 'conversations.create');
      if (failure.slackError !== 'name_taken') throw failure;
      // Taken: by this incident's own earlier attempt whose reply was lost, or by someone else.
      const mine = triedBefore.includes(name) ? await findOwnChannel(deps, name, incident.createdAt) : undefined;
      if (mine) return mine;
    }
  }
  throw new SlackCallError(SLACK_CALL_ERROR_CODES.platform, `Slack conversations.create: the names ${channelNameWithSuffix(baseName, 1)} to -${maxSuffix} are all taken; archive or rename old incident channels`, { method: 'conversations.create', retryable: false, slackError: 'name_taken' });
}

/** The channel called `name` if this bot made it after `sinceMs`; read from `conversations.list`. */
async function findOwnChannel(deps: IncidentChannelDeps, name: string, sinceMs: number): Promise<SlackChannelRef | undefined> {
  const [bot, found] = await Promise.all([
    deps.slack.auth.test().then((r) => r.user_id).catch((error: unknown) => Promise.reject(toSlackCallError(error, 'auth.test'))),
    findByName(deps.slack, name),
  ]);
  if (!found?.id || found.creator !== bot || (found.created ?? 0) < Math.floor(sinceMs / 1000) - 60) return undefined;
  deps.logger.warn({ channel: found.id, name }, 'found the incident channel an earlier attempt created (its reply was lost)');
  return { channelId: found.id, name };
}

async function findByName(slack: WebClient, name: string): Promise<{ id?: string; creator?: string; created?: number } | undefined> {
  let cursor: string | undefined;
  for (let page = 0; page < 20; page += 1) {
    const reply = await slack.conversations.list({ types: 'public_channel,private_channel', exclude_archived: true, limit: 1000, ...(cursor ? { cursor } : {}) })
      .catch((error: unknown) => Promise.reject(toSlackCallError(error, 'conversations.list')));
    const found = reply.channels?.find((c) => c.name === name);
    if (found) return found;
    cursor = reply.response_metadata?.next_cursor || undefined;
    if (!cursor) return undefined;
  }
  return undefined;
}

/** One call per user, so one unknown or departed user does not keep the others out. */
async function invite(deps: IncidentChannelDeps, channel: SlackChannelRef, responders: readonly string[]): Promise<void> {
  for (const user of new Set(responders)) {
    if (!/^[UW][A-Z0-9]{2,}$/.test(user)) continue;
    try {
      await deps.slack.conversations.invite({ channel: channel.channelId, users: user });
    } catch (error) {
      const failure = toSlackCallError(error, 'conversations.invite');
      if (failure.slackError === 'already_in_channel' || failure.slackError === 'cant_invite_self') continue;
      if (failure.code === SLACK_CALL_ERROR_CODES.platform && !failure.retryable) {
        deps.logger.warn({ channel: channel.channelId, user, slackError: failure.slackError }, 'could not invite a responder to the incident channel');
        continue;
      }
      throw failure;
    }
  }
}

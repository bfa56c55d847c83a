/**
 * The Slack side of incident effects (issue 6), an `IncidentEffectHandler` for the
 * `incident-effects` queue: the incident channel (`incident.channel.create`), its pinned summary
 * (`incident.summary.update`), posts (`incident.post`) and acknowledgement reminders
 * (`escalation.fire`). Other kinds (PagerDuty, timers) are not Slack's and are ignored here.
 *
 * Like the run-message notifier (`notifier.ts`), the summary is rendered from the incident's
 * CURRENT state on every update, posted and pinned the first time and edited afterwards, at most
 * once per `minUpdateIntervalMs` per incident: a job that finds the summary's lock held schedules
 * one delayed re-render on a one-second grid (deterministic job id) instead of waiting or failing.
 * A 429 (the client must reject rate-limited calls) pauses this deployment's Slack renders for
 * `Retry-After` — the same pause key the notifier honours — and reschedules the job for then.
 * Posts are marked done in Redis per incident version and effect, so a redelivered job does not
 * post twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { WebClient } from '@slack/web-api';
import { UnrecoverableError, type JobsOptions, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EngineLogger } from '../engine/engine.ts';
import type { IncidentEffectHandler, IncidentEffectJob, IncidentRecord, Incidents } from '../engine/incident-port.ts';
import { jobId } from '../engine/keys.ts';
import { NOTIFY_JOB_OPTIONS } from '../engine/queues.ts';
import type { RunRecord } from '../engine/run-store.ts';
import { SLACK_CALL_ERROR_CODES, SlackCallError, toSlackCallError } from '../integrations/slack.ts';
import type { IncidentEffect } from '../machines/incident-types.ts';
import type { EscalationRung } from '../machines/ir.ts';
import { ensureIncidentChannel } from './incident-channel.ts';
import { postIncidentSummary } from './incident-summary-post.ts';
import { slackNotifierKeys } from './notifier.ts';
import { escapeText } from './views/blocks.ts';
import { renderIncidentSummary, type IncidentRunSummary } from './views/incident-summary.ts';

/** The effect kinds this handler performs. */
export const SLACK_INCIDENT_EFFECT_KINDS = ['incident.channel.create', 'incident.summary.update', 'incident.post', 'escalation.fire'] as const;

/** Pages a PagerDuty escalation for an incident's escalation rung (H2's PagerDuty side). */
export type IncidentPager = (incident: IncidentRecord, fire: { readonly rung: number; readonly page: NonNullable<EscalationRung['page']>; readonly reason: string }) => Promise<void>;

/** Options of {@link createSlackIncidentEffects}; durations in milliseconds. */
export interface SlackIncidentEffectsOptions {
  /** Built with `retries: 0` (a resent post duplicates) and `rejectRateLimitedCalls: true` (a 429 must reach the handler). */
  readonly slack: WebClient;
  readonly incidents: Pick<Incidents, 'get' | 'send'>;
  /** Reads the incident's runs for their states in the summary (`runtime.engine` fits). */
  readonly runs?: { getRun(runId: string): Promise<Pick<RunRecord, 'id' | 'runbookId' | 'status'> | undefined> };
  /** A command connection. */
  readonly redis: Redis;
  /** The deployment's key prefix (`AppConfig.redisPrefix`). */
  readonly prefix: string;
  /** The queue the effect jobs come from: delayed retries (rate limit, spacing, channel not there yet) are added to it. */
  readonly queue: Pick<Queue<IncidentEffectJob>, 'add'>;
  /** Options of the jobs added to `queue`. @default NOTIFY_JOB_OPTIONS (what the incident dispatcher uses) */
  readonly jobOptions?: JobsOptions;
  readonly logger: EngineLogger;
  /** Pages for `escalation.fire` rungs that have `page`; absent: the page part is left to another handler. */
  readonly page?: IncidentPager;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Least time between two updates of one summary. @default 1000 */
  readonly minUpdateIntervalMs?: number;
  /** How long one summary render may hold its lock. @default 30000 */
  readonly renderLockMs?: number;
  /** How long a post waits, in total, for the incident's channel to exist. @default 120000 */
  readonly channelWaitMs?: number;
  /** How long Redis keeps markers and references. @default 90 days */
  readonly retentionMs?: number;
}

/** The Redis keys of the incident effects. */
export function incidentSlackKeys(prefix: string) {
  return {
    render: (incidentId: string) => `${prefix}:slack:incident-render:${incidentId}`,
    summary: (incidentId: string) => `${prefix}:slack:incident-summary:${incidentId}`,
    posted: (incidentId: string, key: string) => `${prefix}:slack:incident-posted:${incidentId}:${key}`,
    waiting: (incidentId: string, key: string) => `${prefix}:slack:incident-waiting:${incidentId}:${key}`,
    groups: `${prefix}:slack:usergroups`,
  };
}

const RELEASE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], 'spacing', 'PX', ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1`;

/** Builds the handler. Effects of other kinds resolve at once, doing nothing. */
export function createSlackIncidentEffects(options: SlackIncidentEffectsOptions): IncidentEffectHandler {
  const { slack, redis, incidents, logger } = options;
  const keys = incidentSlackKeys(options.prefix);
  const paused = slackNotifierKeys(options.prefix).paused;
  const clock = options.clock ?? Date.now;
  const spacingMs = options.minUpdateIntervalMs ?? 1_000;
  const lockMs = options.renderLockMs ?? 30_000;
  const retentionMs = options.retentionMs ?? 90 * 86_400_000;
  const channelWaitMs = options.channelWaitMs ?? 120_000;

  /** Re-adds the job `delayMs` from now, on a one-second grid so that jobs for one moment collapse. */
  const later = async (job: IncidentEffectJob, delayMs: number, tag: string) => {
    const now = clock();
    const slot = Math.ceil((now + Math.max(1, delayMs)) / 1_000) * 1_000;
    const id = jobId('incident', job.incidentId, tag, slot / 1_000);
    await options.queue.add(`retry-${job.effect.kind}`, job, { ...NOTIFY_JOB_OPTIONS, ...options.jobOptions, delay: Math.max(0, slot - now), jobId: id });
  };

  const effectKey = (job: IncidentEffectJob) => `${job.version}-${createHash('sha256').update(JSON.stringify(job.effect)).digest('hex').slice(0, 16)}`;

  /** The incident, with a channel; undefined (and the job rescheduled, for a while) while the channel does not exist yet. */
  const withChannel = async (job: IncidentEffectJob): Promise<{ incident: IncidentRecord; channel: string } | undefined> => {
    const incident = await incidents.get(job.incidentId);
    if (!incident) {
      logger.warn({ incidentId: job.incidentId, kind: job.effect.kind }, 'incident effect for an unknown incident; dropped');
      return undefined;
    }
    if (incident.context.slack) return { incident, channel: incident.context.slack.channelId };
    const waitKey = keys.waiting(job.incidentId, effectKey(job));
    await redis.set(waitKey, String(clock()), 'PX', channelWaitMs * 2, 'NX');
    const since = Number((await redis.get(waitKey)) ?? clock());
    if (clock() - since > channelWaitMs) throw new UnrecoverableError(`incident ${job.incidentId} still has no Slack channel after ${channelWaitMs} ms; ${job.effect.kind} dropped`);
    await later(job, 2_000, `wait-${effectKey(job)}`);
    return undefined;
  };

  const postOnce = async (job: IncidentEffectJob, channel: string, text: string) => {
    const marker = keys.posted(job.incidentId, effectKey(job));
    if (await redis.exists(marker)) return;
    try {
      await slack.chat.postMessage({ channel, text, unfurl_links: false, unfurl_media: false });
    } catch (error) {
      throw toSlackCallError(error, 'chat.postMessage');
    }
    await redis.set(marker, '1', 'PX', retentionMs);
  };

  const runsOf = async (incident: IncidentRecord): Promise<IncidentRunSummary[] | undefined> => {
    if (!options.runs) return undefined;
    const reader = options.runs;
    return Promise.all(incident.context.runs.slice(-10).map(async (id) => {
      const run = await reader.getRun(id).catch(() => undefined);
      return run ? { id: run.id, runbookId: run.runbookId, status: run.status } : { id, runbookId: '?', status: 'unknown' };
    }));
  };

  const updateSummary = async (job: IncidentEffectJob) => {
    const token = `rendering:${randomUUID()}`;
    if ((await redis.set(keys.render(job.incidentId), token, 'PX', lockMs, 'NX')) !== 'OK') {
      const ttl = await redis.pttl(keys.render(job.incidentId));
      return later(job, Math.min(ttl > 0 ? ttl : 50, spacingMs), 'summary');
    }
    let sentAt: number | undefined;
    try {
      const incident = await incidents.get(job.incidentId);
      // No channel yet: `incident.channel_created` asks for the summary again once there is one.
      if (!incident?.context.slack) return;
      const content = renderIncidentSummary(incident, { now: clock(), ...(await withDefined(runsOf(incident))) });
      sentAt = clock();
      const posted = await postIncidentSummary({ slack, redis, key: keys.summary(incident.id), retentionMs, logger }, incident, content);
      if (posted.firstTs !== undefined) await incidents.send(incident.id, { type: 'incident.summary_posted', ts: posted.firstTs, at: clock() });
    } finally {
      const holdMs = sentAt === undefined ? 0 : Math.max(0, spacingMs - (clock() - sentAt));
      await redis.eval(RELEASE, 1, keys.render(job.incidentId), token, String(Math.ceil(holdMs))).catch(() => undefined);
    }
  };

  const remind = async (job: IncidentEffectJob, effect: Extract<IncidentEffect, { kind: 'escalation.fire' }>) => {
    const found = await withChannel(job);
    if (!found) return;
    if (effect.notify && effect.notify.length > 0) {
      const mentions = await mentionsOf(effect.notify);
      const text = `⏰ *${escapeText(found.incident.id)}* (${escapeText(found.incident.context.title)}) is ${escapeText(effect.reason)}. ${mentions.join(' ')} please acknowledge: \`/runbook incident ack\``;
      await postOnce(job, found.channel, text);
    }
    if (effect.page) {
      if (options.page) await options.page(found.incident, { rung: effect.rung, page: effect.page, reason: effect.reason });
      else logger.warn({ incidentId: job.incidentId, rung: effect.rung }, 'escalation rung asks for a page, and no pager is wired into the Slack incident handler');
    }
  };

  /** `@handle` → `<!subteam^S…>` (from `usergroups.list`, cached a minute), user ids → `<@U…>`. */
  const mentionsOf = async (notify: readonly string[]): Promise<string[]> => {
    const handles = notify.filter((n) => n.startsWith('@'));
    let groups: Record<string, string> = {};
    if (handles.length > 0) {
      const cached = await redis.get(keys.groups);
      if (cached) groups = JSON.parse(cached) as Record<string, string>;
      else {
        const reply = await slack.usergroups.list({}).catch((error: unknown) => Promise.reject(toSlackCallError(error, 'usergroups.list')));
        groups = Object.fromEntries((reply.usergroups ?? []).flatMap((g) => (g.handle && g.id ? [[g.handle, g.id]] : [])));
        await redis.set(keys.groups, JSON.stringify(groups), 'PX', 60_000);
      }
    }
    return notify.map((n) => {
      if (/^[UW][A-Z0-9]{2,}$/.test(n)) return `<@${n}>`;
      const id = n.startsWith('@') ? groups[n.slice(1)] : undefined;
      return id ? `<!subteam^${id}>` : escapeText(n);
    });
  };

  const perform = async (job: IncidentEffectJob): Promise<void> => {
    const effect = job.effect;
    switch (effect.kind) {
      case 'incident.channel.create': {
        const incident = await incidents.get(job.incidentId);
        if (!incident) return logger.warn({ incidentId: job.incidentId }, 'channel requested for an unknown incident; dropped');
        const channel = await ensureIncidentChannel({ slack, redis, prefix: options.prefix, logger, retentionMs }, incident, effect.name, effect.responders);
        if (!incident.context.slack) await incidents.send(incident.id, { type: 'incident.channel_created', channel, at: clock() });
        return;
      }
      case 'incident.summary.update':
        return updateSummary(job);
      case 'incident.post': {
        const found = await withChannel(job);
        if (found) await postOnce(job, found.channel, escapeText(effect.text));
        return;
      }
      case 'escalation.fire':
        return remind(job, effect);
      default:
        return;
    }
  };

  return async (job) => {
    if (!(SLACK_INCIDENT_EFFECT_KINDS as readonly string[]).includes(job.effect.kind)) return;
    const pausedMs = await redis.pttl(paused);
    if (pausedMs > 0) return later(job, pausedMs, `paused-${effectKey(job)}`);
    try {
      await perform(job);
    } catch (error) {
      const failure = error instanceof SlackCallError ? error : undefined;
      if (failure?.code === SLACK_CALL_ERROR_CODES.rateLimited) {
        const waitMs = failure.retryAfterMs ?? 1_000;
        logger.warn({ incidentId: job.incidentId, method: failure.method, retryAfterMs: waitMs }, 'Slack rate limited an incident update; trying again after Retry-After');
        await redis.set(paused, failure.method, 'PX', waitMs);
        return later(job, waitMs, `ratelimited-${effectKey(job)}`);
      }
      if (failure && !failure.retryable) {
        logger.error({ incidentId: job.incidentId, kind: job.effect.kind, method: failure.method, slackError: failure.slackError }, `an incident update could not be made in Slack: ${failure.message}`);
        throw new UnrecoverableError(failure.message);
      }
      if (!failure && (error as { retryable?: unknown } | null)?.retryable === false) {
        logger.error({ incidentId: job.incidentId, kind: job.effect.kind, err: String(error) }, 'an incident effect failed for good');
        throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
      }
      throw error;
    }
  };
}

async function withDefined(runs: Promise<IncidentRunSummary[] | undefined>): Promise<{ runs?: IncidentRunSummary[] }> {
  const value = await runs;
  return value === undefined ? {} : { runs: value };
}

/**
 * The `notify` queue's Slack side (issue 5): keeps one message per Slack-started run current, in
 * the channel it was started from; runs auto-started for an incident (origin `pagerduty`, issue 6)
 * get theirs in the incident's channel, and wait (delayed re-renders) while that is being created.
 *
 * On any effect of a run whose origin is Slack, the notifier re-renders the message from the
 * run's CURRENT state (never from the effect, so jobs handled out of order can never show a stale
 * state), posts it the first time (`chat.postMessage`; `{ channel, ts }` kept in Redis under
 * `<prefix>:slack:message:<runId>` with SET NX) and updates it in place afterwards (`chat.update`).
 *
 * One render at a time per message: a Redis key (`<prefix>:slack:render:<runId>`) is both the
 * render's lock and, once the update is sent, a 1-second spacing window. A job that finds it held
 * does not wait and does not fail: it schedules a delayed re-render on the notify queue with the
 * deterministic id `render-<runId>-<second>`, so every job wanting a render in the same second
 * collapses into one, and that render reads whatever the state is by then. Why not throw and let
 * the worker's backoff retry? The backoff is exponential (1 s, 2 s, 4 s …) and ignores
 * `Retry-After`, each retry burns an attempt, and N coalesced jobs would become N retries; one
 * delayed job per second is exact and cheap.
 *
 * A 429 (the client must reject rate-limited calls: `rejectRateLimitedCalls: true`) pauses all
 * Slack renders of this deployment for `Retry-After` (`<prefix>:slack:paused`) and schedules the
 * re-render for then. Nothing is lost because nothing is queued but "render this run".
 *
 * Step outputs go in the message's thread, derived from run state on every render (the effects
 * carry no step results): each call step's output, error or undo error is posted once (a marker
 * per step, kind and attempt), in runbook order, under the same lock. While a step is running the
 * notifier re-renders every `refreshIntervalMs` (delayed jobs on a shared grid, so they never pile
 * up), which keeps the elapsed time, finished steps and their outputs current between effects.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { WebClient } from '@slack/web-api';
import { UnrecoverableError, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EngineLogger } from '../engine/engine.ts';
import type { Incidents } from '../engine/incident-port.ts';
import { jobId } from '../engine/keys.ts';
import { NOTIFY_JOB_OPTIONS, type NotifyJob } from '../engine/queues.ts';
import type { RunRecord } from '../engine/run-store.ts';
import type { Notifier } from '../engine/workers.ts';
import { SLACK_CALL_ERROR_CODES, SlackCallError, toSlackCallError } from '../integrations/slack.ts';
import type { Runbook } from '../machines/ir.ts';
import { CodedError } from '../shared/coded-error.ts';
import { outputPosts, renderRunMessage, type SlackMessageContent } from './run-message/index.ts';

/** What the notifier reads of the engine (an `Engine` fits). */
export interface RunReader {
  getRun(runId: string): Promise<RunRecord | undefined>;
  runbookOf(run: RunRecord): Runbook;
}

/** Options of {@link createSlackNotifier}; durations in milliseconds. */
export interface SlackNotifierOptions {
  /**
   * The Web API client. Build it with `rejectRateLimitedCalls: true` (a 429 must reach the
   * notifier, which reschedules; otherwise the client sleeps through `Retry-After` holding the job)
   * and `retries: 0` (a resent `chat.postMessage` whose reply was lost posts twice; the notify
   * job's own retries cover transient failures), e.g.
   * `createSlackClient({ token, apiUrl, retries: 0, rejectRateLimitedCalls: true })`.
   */
  readonly slack: WebClient;
  /** A command connection (not a subscriber). */
  readonly redis: Redis;
  /** The deployment's key prefix (`AppConfig.redisPrefix`). */
  readonly prefix: string;
  readonly engine: RunReader;
  /** The engine's notify queue (`runtime.queues.notify`): delayed re-renders are jobs on it. */
  readonly queue: Pick<Queue<NotifyJob>, 'add'>;
  readonly logger: EngineLogger;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Least time between two updates of one message. @default 1000 */
  readonly minUpdateIntervalMs?: number;
  /** While a step runs, re-render this often (less often as it runs longer, up to 5 min); 0 turns it off. @default 10000 */
  readonly refreshIntervalMs?: number;
  /** How long one render may hold a message's lock (keep it above the client's timeout). @default 30000 */
  readonly renderLockMs?: number;
  /** How long Redis keeps a run's message reference and output markers. @default 30 days */
  readonly retentionMs?: number;
  /** Finds the channel of incident runs (origin `pagerduty`); absent, those runs get no message. */
  readonly incidents?: Pick<Incidents, 'get' | 'findByPagerDutyId'>;
  /** How long an incident run's message waits for the incident's channel before giving up. @default 300000 */
  readonly incidentChannelWaitMs?: number;
}

/** A delayed re-render the notifier scheduled: the triggering job's data, marked. */
export interface RenderJob extends NotifyJob {
  readonly render: true;
}

/** Whether a notify job is a re-render the Slack notifier scheduled (its effect was already handled once). */
export function isRenderJob(job: NotifyJob): job is RenderJob {
  return (job as Partial<RenderJob>).render === true;
}

/** Where a run's message is. */
export interface MessageRef {
  readonly channel: string;
  readonly ts: string;
}

/** Slack message metadata that marks a run message, to find one whose post reply was lost. */
export const RUN_MESSAGE_EVENT_TYPE = 'runbook_run';

/** The Redis keys of the Slack notifier. */
export function slackNotifierKeys(prefix: string) {
  return {
    message: (runId: string) => `${prefix}:slack:message:${runId}`,
    render: (runId: string) => `${prefix}:slack:render:${runId}`,
    rendered: (runId: string) => `${prefix}:slack:rendered:${runId}`,
    uncertain: (runId: string) => `${prefix}:slack:uncertain:${runId}`,
    output: (runId: string, key: string) => `${prefix}:slack:output:${runId}:${key}`,
    paused: `${prefix}:slack:paused`,
  };
}

/** Sets the lock key to `ARGV[2]` for `ARGV[3]` ms (or deletes it when that is 0) if it still holds `ARGV[1]`. */
const RELEASE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else redis.call('DEL', KEYS[1]) end
return 1`;

const RUNNING: ReadonlySet<string> = new Set(['running', 'retrying', 'waiting', 'undoing']);
/** Longest pause between refreshes of a long-running step. */
const MAX_REFRESH_MS = 5 * 60_000;

/** Where a run's message goes: its Slack channel, `pending` while its incident's channel is being made, or nowhere. */
type Destination = { readonly channel: string } | 'pending' | undefined;

/** Builds the notifier to pass as the notify worker's `notifier`. Runs not started from Slack (or for an incident) are ignored. */
export function createSlackNotifier(options: SlackNotifierOptions): Notifier {
  const { slack, redis, engine, logger } = options;
  const keys = slackNotifierKeys(options.prefix);
  const clock = options.clock ?? Date.now;
  const spacingMs = options.minUpdateIntervalMs ?? 1_000;
  const refreshMs = options.refreshIntervalMs ?? 10_000;
  const lockMs = options.renderLockMs ?? 30_000;
  const retentionMs = options.retentionMs ?? 30 * 86_400_000;
  const incidentWaitMs = options.incidentChannelWaitMs ?? 300_000;

  const destinationOf = async (run: RunRecord): Promise<Destination> => {
    if (run.origin?.kind === 'slack') return { channel: run.origin.channel };
    if (run.origin?.kind !== 'pagerduty' || !options.incidents) return undefined;
    const incident = (await options.incidents.get(run.origin.incidentId)) ?? (await options.incidents.findByPagerDutyId(run.origin.incidentId));
    if (!incident) return undefined;
    if (incident.context.slack) return { channel: incident.context.slack.channelId };
    return clock() - run.createdAt < incidentWaitMs ? 'pending' : undefined;
  };

  /** Schedules a re-render `delayMs` from now, on a grid of `gridMs` so that jobs for one moment collapse. */
  const later = async (job: NotifyJob, delayMs: number, gridMs = 1_000) => {
    const now = clock();
    const slot = Math.ceil((now + Math.max(1, delayMs)) / gridMs) * gridMs;
    const data: RenderJob = { runId: job.runId, version: job.version, effect: job.effect, render: true };
    await options.queue.add('render', data, { ...NOTIFY_JOB_OPTIONS, delay: Math.max(0, slot - now), jobId: jobId('render', job.runId, slot / 1_000) });
  };

  /** How long until the render lock frees: a render in progress is looked at again within the spacing. */
  const lockWaitMs = async (runId: string) => {
    const [value, ttl] = await Promise.all([redis.get(keys.render(runId)), redis.pttl(keys.render(runId))]);
    const remaining = ttl > 0 ? ttl : 50;
    return value?.startsWith('rendering:') ? Math.min(remaining, spacingMs) : remaining;
  };

  const readRef = async (runId: string): Promise<MessageRef | undefined> => {
    const text = await redis.get(keys.message(runId));
    return text ? (JSON.parse(text) as MessageRef) : undefined;
  };

  /** Stores the reference once (SET NX); when another one is there already, that one wins. */
  const storeRef = async (runId: string, ref: MessageRef): Promise<MessageRef> => {
    if ((await redis.set(keys.message(runId), JSON.stringify(ref), 'PX', retentionMs, 'NX')) === 'OK') return ref;
    const existing = await readRef(runId);
    if (existing && existing.ts !== ref.ts) logger.warn({ runId, kept: existing.ts, extra: ref.ts }, 'a second run message was posted; the first is kept up to date');
    return existing ?? ref;
  };

  /** After a post whose reply was lost: the message it may have made, found by its metadata. */
  const findLostPost = async (run: RunRecord, channel: string): Promise<MessageRef | undefined> => {
    if (!(await redis.exists(keys.uncertain(run.id)))) return undefined;
    try {
      const history = await slack.conversations.history({ channel, limit: 100, include_all_metadata: true });
      const found = history.messages?.find((m) => m.metadata?.event_type === RUN_MESSAGE_EVENT_TYPE && (m.metadata.event_payload as Record<string, unknown> | undefined)?.['run_id'] === run.id);
      return found?.ts ? { channel, ts: found.ts } : undefined;
    } catch (error) {
      logger.warn({ runId: run.id, err: toSlackCallError(error, 'conversations.history').message }, 'could not look for a run message whose post reply was lost; posting again');
      return undefined;
    }
  };

  const post = async (run: RunRecord, channel: string, content: SlackMessageContent): Promise<MessageRef> => {
    try {
      const reply = await slack.chat.postMessage({
        channel, text: content.text, blocks: [...content.blocks], unfurl_links: false, unfurl_media: false,
        metadata: { event_type: RUN_MESSAGE_EVENT_TYPE, event_payload: { run_id: run.id } },
      });
      if (!reply.ts) throw new CodedError('slack_reply_invalid', 'chat.postMessage answered without a ts', { retryable: true });
      return { channel: reply.channel ?? channel, ts: reply.ts };
    } catch (error) {
      const failure = toSlackCallError(error, 'chat.postMessage');
      if (failure.mayHaveApplied) await redis.set(keys.uncertain(run.id), '1', 'PX', 86_400_000);
      throw failure;
    }
  };

  /** Posts the message if there is none yet, else updates it when it changed. Returns when the call went out. */
  const show = async (run: RunRecord, channel: string, content: SlackMessageContent): Promise<{ ref: MessageRef; sentAt?: number }> => {
    const hash = createHash('sha256').update(JSON.stringify(content)).digest('hex');
    let ref = (await readRef(run.id)) ?? (await findLostPost(run, channel));
    let sentAt: number | undefined;
    if (!ref) {
      sentAt = clock();
      ref = await storeRef(run.id, await post(run, channel, content));
      await redis.del(keys.uncertain(run.id));
    } else if ((await redis.get(keys.rendered(run.id))) !== hash) {
      sentAt = clock();
      try {
        await slack.chat.update({ channel: ref.channel, ts: ref.ts, text: content.text, blocks: [...content.blocks] });
      } catch (error) {
        const failure = toSlackCallError(error, 'chat.update');
        if (failure.slackError !== 'message_not_found') throw failure;
        // Someone deleted the run message: post a new one rather than go silent.
        logger.warn({ runId: run.id, ts: ref.ts }, 'the run message is gone; posting it again');
        await redis.del(keys.message(run.id));
        ref = await storeRef(run.id, await post(run, ref.channel, content));
      }
    }
    await redis.set(keys.rendered(run.id), hash, 'PX', retentionMs);
    return sentAt === undefined ? { ref } : { ref, sentAt };
  };

  const postOutputs = async (run: RunRecord, runbook: Runbook, ref: MessageRef) => {
    for (const output of outputPosts(run, runbook)) {
      const marker = keys.output(run.id, output.key);
      if (await redis.exists(marker)) continue;
      try {
        await slack.chat.postMessage({ channel: ref.channel, thread_ts: ref.ts, text: output.content.text, blocks: [...output.content.blocks], unfurl_links: false, unfurl_media: false });
      } catch (error) {
        throw toSlackCallError(error, 'chat.postMessage');
      }
      await redis.set(marker, '1', 'PX', retentionMs);
    }
  };

  /** One render under the lock: re-read the run, show it, post new outputs, maybe schedule a refresh. */
  const render = async (job: NotifyJob, onSent: (at: number) => void) => {
    const run = await engine.getRun(job.runId);
    const destination = run ? await destinationOf(run) : undefined;
    if (!run || destination === undefined) return;
    if (destination === 'pending') return later(job, 2_000);
    const runbook = engine.runbookOf(run);
    const { ref, sentAt } = await show(run, destination.channel, renderRunMessage(run, runbook, clock()));
    if (sentAt !== undefined) onSent(sentAt);
    await postOutputs(run, runbook, ref);
    const running = run.status === 'active' ? Object.values(run.snapshot.context.steps).filter((s) => RUNNING.has(s.status)) : [];
    if (running.length > 0 && refreshMs > 0) {
      // A step that has run for an hour does not need its elapsed time redrawn every 10 s.
      const elapsedMs = clock() - Math.min(...running.map((s) => s.startedAt ?? run.createdAt));
      await later(job, Math.min(MAX_REFRESH_MS, Math.max(refreshMs, elapsedMs / 6)), refreshMs);
    }
  };

  return async (job) => {
    const run = await engine.getRun(job.runId);
    if (!run || (run.origin?.kind !== 'slack' && !(run.origin?.kind === 'pagerduty' && options.incidents))) return;
    const pausedMs = await redis.pttl(keys.paused);
    if (pausedMs > 0) return later(job, pausedMs);
    const token = `rendering:${randomUUID()}`;
    if ((await redis.set(keys.render(job.runId), token, 'PX', lockMs, 'NX')) !== 'OK') return later(job, await lockWaitMs(job.runId));
    let sentAt: number | undefined;
    let hold = { value: 'spacing', ms: 0 };
    try {
      await render(job, (at) => (sentAt = at));
    } catch (error) {
      const failure = error instanceof SlackCallError ? error : undefined;
      if (failure?.code === SLACK_CALL_ERROR_CODES.rateLimited) {
        const waitMs = failure.retryAfterMs ?? 1_000;
        logger.warn({ runId: job.runId, method: failure.method, retryAfterMs: waitMs }, 'Slack rate limited the run message; rendering again after Retry-After');
        await redis.set(keys.paused, failure.method, 'PX', waitMs);
        hold = { value: 'ratelimited', ms: waitMs };
        await later(job, waitMs);
        return;
      }
      if (failure && !failure.retryable) {
        logger.error({ runId: job.runId, method: failure.method, slackError: failure.slackError }, `the run message could not be shown: ${failure.message}`);
        throw new UnrecoverableError(failure.message);
      }
      throw error;
    } finally {
      if (hold.value === 'spacing' && sentAt !== undefined) hold = { value: 'spacing', ms: Math.max(0, spacingMs - (clock() - sentAt)) };
      await redis.eval(RELEASE, 1, keys.render(job.runId), token, hold.value, String(Math.ceil(hold.ms))).catch(() => undefined);
    }
  };
}

/** The notifier was called before {@link lateBoundNotifier}'s `bind` (a retry will find it bound). */
export class NotifierNotReadyError extends CodedError<'notifier_not_ready'> {
  constructor() {
    super('notifier_not_ready', 'the Slack notifier is not bound yet; the job will be retried', { retryable: true });
  }
}

/**
 * A notifier to give `createRuntime` / `startApp` before the real one can be built (it needs the
 * runtime's engine, Redis and queue). Jobs that arrive before `bind` fail with a retryable error
 * and BullMQ retries them.
 */
export function lateBoundNotifier(): { readonly notifier: Notifier; bind(target: Notifier): void } {
  let target: Notifier | undefined;
  return {
    notifier: (job) => (target ? target(job) : Promise.reject(new NotifierNotReadyError())),
    bind: (next) => {
      target = next;
    },
  };
}

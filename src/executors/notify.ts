/**
 * The `notify` executor: posts a message to a Slack channel (`#ml-incidents` or an id) through the
 * narrow `SlackMessenger` port, so this module never touches `@slack/*` (DESIGN.md §4).
 *
 * Idempotent under at-least-once delivery: every message carries metadata
 * `{ event_type: 'runbook_step', event_payload: { key, step } }` (`key` the attempt's idempotency
 * key, `step` = `runId/stepId/phase`). Before posting, the executor reads the channel's latest
 * messages (`conversations.history`, 50) and adopts one with the same `step`, whichever attempt
 * posted it: a redelivered job keeps its attempt number, and a step retry after a lost reply has a
 * new key but must not post twice. (A step that a backward `on_failure` jump runs again therefore
 * adopts its first message while that is among the latest 50.) After a post whose reply was lost,
 * it looks once more before failing. A 429 was not processed: the post is repeated after
 * `Retry-After`.
 *
 * Output: `{ channel, ts, adopted }` (`channel` the id). Errors: `notify_failed` (not retryable for
 * Slack platform errors such as `channel_not_found` and `not_in_channel`; retryable for rate
 * limits, network errors, timeouts and Slack's transient errors), `executor_input_invalid`; an
 * abort rejects with an AbortError (`executor_aborted`).
 */
import type { SlackHistoryMessage, SlackMessenger } from '../integrations/slack.ts';
import { ExecutorError, sleep, type Executor, type ExecutorContext } from './contract.ts';
import { describeValueForPlan, headOf } from './limits.ts';
import { BUILTIN_EXECUTOR_SPECS, isTemplate, notifyArgs } from './specs.ts';

/** Where a `notify` without `channel` posts: the run's own channel and thread. */
export type RunThreadLookup = (ctx: ExecutorContext) => Promise<{ readonly channel: string; readonly threadTs?: string } | undefined>;

/** Options of {@link createNotifyExecutor}. */
export interface NotifyExecutorOptions {
  /** Slack, through its message port (`createSlackMessenger` in `src/integrations/slack.ts`). */
  readonly slack: SlackMessenger;
  /** Finds the run's thread for a `notify` without `channel`. @default none: such a step fails, not retryable */
  readonly runThread?: RunThreadLookup;
  /** Latest messages read when looking for an earlier attempt's post. @default 50 */
  readonly lookbackMessages?: number;
  /** 429s waited out within one call before the attempt fails (retryable). @default 3 */
  readonly maxRateLimitWaits?: number;
  /** Longest `Retry-After` waited within one call; a longer one fails the attempt (retryable). @default 30000 */
  readonly maxRateLimitWaitMs?: number;
  /** Characters of text posted; the rest is cut and marked (Slack refuses 40,000). @default 35000 */
  readonly maxTextChars?: number;
  /** @default the contract's abortable `sleep` */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** The `event_type` of the metadata on every message `notify` posts. */
export const NOTIFY_EVENT_TYPE = 'runbook_step';

interface Settings {
  readonly slack: SlackMessenger;
  readonly runThread: RunThreadLookup | undefined;
  readonly lookback: number;
  readonly maxRateLimitWaits: number;
  readonly maxRateLimitWaitMs: number;
  readonly maxTextChars: number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Target { readonly channel: string; readonly threadTs: string | undefined }

/** The failure shape `SlackMessenger` rejects with (`SlackCallError`), read by its fields. */
interface SlackFailure { readonly code: string; readonly retryable: boolean; readonly slackError?: string | undefined; readonly retryAfterMs?: number | undefined; readonly mayHaveApplied: boolean; readonly message: string }

/** `runId/stepId/phase`: the same for every attempt of one step execution. */
export function stepKeyOf(ctx: Pick<ExecutorContext, 'runId' | 'stepId' | 'phase'>): string {
  return `${ctx.runId}/${ctx.stepId}/${ctx.phase}`;
}

/** Creates the `notify` executor (see the module comment for idempotency, output and errors). */
export function createNotifyExecutor(options: NotifyExecutorOptions): Executor {
  const settings: Settings = {
    slack: options.slack,
    runThread: options.runThread,
    lookback: options.lookbackMessages ?? 50,
    maxRateLimitWaits: options.maxRateLimitWaits ?? 3,
    maxRateLimitWaitMs: options.maxRateLimitWaitMs ?? 30_000,
    maxTextChars: options.maxTextChars ?? 35_000,
    sleep: options.sleep ?? sleep,
  };
  const spec = BUILTIN_EXECUTOR_SPECS.find((candidate) => candidate.name === 'notify');
  if (!spec) throw new Error('no built-in executor spec named notify');
  return { spec, run: (input, ctx) => runNotify(input, settings, ctx), plan: planNotify };
}

async function runNotify(input: unknown, settings: Settings, ctx: ExecutorContext): Promise<unknown> {
  const args = parseArgs(input, ctx);
  const target = await targetOf(args.channel, settings, ctx);
  const text = headOf(ctx.redact(args.text), settings.maxTextChars).text;
  const channelId = await lookQuietly(() => settings.slack.resolveChannelId(target.channel, ctx.signal), ctx, 'resolve the channel');
  const earlier = channelId === undefined ? undefined : await findEarlier(settings, channelId, ctx);
  if (channelId !== undefined && earlier) {
    ctx.logger.info({ channel: channelId, ts: earlier.ts }, 'notify: adopted the message of an earlier delivery');
    return { channel: channelId, ts: earlier.ts, adopted: true };
  }
  const metadata = { event_type: NOTIFY_EVENT_TYPE, event_payload: { key: ctx.idempotencyKey, step: stepKeyOf(ctx) } };
  for (let waits = 0; ; waits += 1) {
    try {
      const posted = await settings.slack.postMessage({ channel: target.channel, text, metadata, ...(target.threadTs ? { threadTs: target.threadTs } : {}) }, ctx.signal);
      ctx.logger.info({ channel: posted.channel, ts: posted.ts }, 'notify: posted');
      return { channel: posted.channel, ts: posted.ts, adopted: false };
    } catch (error) {
      const failure = asFailure(error, ctx);
      const wait = failure.retryAfterMs;
      if (failure.code === 'slack_rate_limited' && wait !== undefined && wait <= settings.maxRateLimitWaitMs && waits < settings.maxRateLimitWaits) {
        ctx.logger.warn({ channel: target.channel, retryAfterMs: wait }, 'notify: rate limited; posting again after Retry-After');
        await settings.sleep(wait, ctx.signal);
        continue;
      }
      if (failure.mayHaveApplied) {
        // The post may have been made before its reply was lost: never post twice.
        const id = channelId ?? (await lookQuietly(() => settings.slack.resolveChannelId(target.channel, ctx.signal), ctx, 'resolve the channel'));
        const found = id === undefined ? undefined : await findEarlier(settings, id, ctx);
        if (id !== undefined && found) return { channel: id, ts: found.ts, adopted: true };
      }
      throw toNotifyError(failure, target.channel, ctx);
    }
  }
}

/** The earlier post of this step among the channel's latest messages; undefined when it cannot be read. */
async function findEarlier(settings: Settings, channelId: string, ctx: ExecutorContext): Promise<SlackHistoryMessage | undefined> {
  const messages = await lookQuietly(() => settings.slack.recentMessages(channelId, settings.lookback, ctx.signal), ctx, 'read the channel history');
  const step = stepKeyOf(ctx);
  return messages?.find((m) => {
    const payload = m.metadata?.event_payload;
    return m.metadata?.event_type === NOTIFY_EVENT_TYPE && payload !== undefined && (payload['step'] === step || payload['key'] === ctx.idempotencyKey);
  });
}

/**
 * Runs a read that only serves deduplication. When Slack refuses it (no `channels:read` or
 * `channels:history` scope, a public channel the bot posts to without being a member), the post
 * goes ahead without the check, and the log says so.
 */
async function lookQuietly<T>(read: () => Promise<T | undefined>, ctx: ExecutorContext, what: string): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const failure = asFailure(error, ctx);
    ctx.logger.warn({ error: failure.message }, `notify: could not ${what} to look for an earlier post; posting without that check`);
    return undefined;
  }
}

async function targetOf(channel: string | undefined, settings: Settings, ctx: ExecutorContext): Promise<Target> {
  if (channel !== undefined) return { channel, threadTs: undefined };
  const thread = settings.runThread ? await settings.runThread(ctx) : undefined;
  if (!thread) {
    throw new ExecutorError('notify_failed', 'notify: no `channel` given and this run has no Slack thread to post to; set `channel: "#ml-incidents"`', { retryable: false });
  }
  return { channel: thread.channel, threadTs: thread.threadTs };
}

function asFailure(error: unknown, ctx: ExecutorContext): SlackFailure {
  if (error instanceof Error && error.name === 'AbortError') throw error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as Partial<SlackFailure>;
  const message = ctx.redact(error instanceof Error ? error.message : String(error));
  if (typeof shape.code !== 'string' || typeof shape.retryable !== 'boolean') return { code: 'slack_request_failed', retryable: true, mayHaveApplied: true, message };
  return {
    code: shape.code, retryable: shape.retryable, slackError: shape.slackError, retryAfterMs: shape.retryAfterMs, mayHaveApplied: shape.mayHaveApplied === true, message,
  };
}

function toNotifyError(failure: SlackFailure, channel: string, ctx: ExecutorContext): ExecutorError {
  const where = ctx.redact(channel);
  const message = failure.slackError
    ? `notify: Slack refused to post to ${where}: ${failure.slackError}${hintFor(failure.slackError)}`
    : `notify: posting to ${where} failed: ${failure.message}`;
  return new ExecutorError('notify_failed', message, { retryable: failure.retryable });
}

function hintFor(slackError: string): string {
  if (slackError === 'channel_not_found') return ' (check the channel name or id; for a private channel, invite the bot)';
  if (slackError === 'not_in_channel') return ' (invite the bot to the channel, or grant it chat:write.public)';
  return '';
}

function parseArgs(input: unknown, ctx: ExecutorContext): { channel: string | undefined; text: string } {
  const parsed = notifyArgs.safeParse(input);
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'arguments'}: ${issue.message}`);
  if (parsed.success && isTemplate(parsed.data.channel)) problems.push(`channel: a template was never resolved: ${JSON.stringify(parsed.data.channel)}`);
  if (!parsed.success || problems.length > 0) {
    throw new ExecutorError('executor_input_invalid', ctx.redact(`notify: invalid arguments: ${problems.join('; ')}`), { retryable: false });
  }
  return { channel: parsed.data.channel, text: parsed.data.text };
}

/** `post to #ml-incidents: "Rolling back model-x…"`; lenient about markers for values known only at run time. */
function planNotify(input: unknown): string[] {
  const args = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  const channel = args['channel'] === undefined ? "the run's Slack thread" : describeValueForPlan(args['channel']);
  const text = describeValueForPlan(args['text'] ?? '');
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return [`post to ${channel}: ${JSON.stringify(shown)}`];
}

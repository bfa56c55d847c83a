/**
 * Slack Web API client construction, and the narrow message port (`SlackMessenger`) the `notify`
 * executor uses, so that executors never see `@slack/*` types (DESIGN.md §4).
 *
 * Why two clients: `@slack/web-api` retries a call whose reply was lost (network error, timeout,
 * 5xx) by sending it again. That is right for reads, wrong for `chat.postMessage`: a post whose
 * reply was lost has usually been made, and a blind resend duplicates it. The messenger therefore
 * posts through a client that never retries and rejects a 429 at once (a 429 was not processed, so
 * the caller may wait `Retry-After` and post again), while reads go through a client that retries a
 * few times and waits out a 429's `Retry-After` itself.
 */
import { ErrorCode, LogLevel, WebClient, type WebClientOptions } from '@slack/web-api';

/** Slack's Web API base URL (`SLACK_API_URL` unset). */
export const DEFAULT_SLACK_API_URL = 'https://slack.com/api/';

/** Options of {@link createSlackClient}; durations in milliseconds. */
export interface SlackClientOptions {
  /** Bot token (`SLACK_BOT_TOKEN`). */
  readonly token: string;
  /** Web API base URL (`SLACK_API_URL`); a missing trailing `/` is added. @default https://slack.com/api/ */
  readonly apiUrl?: string;
  /** Retries of a failed call (network error, 5xx, 429 after its `Retry-After`). @default 3 */
  readonly retries?: number;
  /** Deadline of one HTTP request. @default 10000 */
  readonly timeoutMs?: number;
  /** Fail a 429 at once (`slack_webapi_rate_limited_error`) instead of waiting `Retry-After`. @default false */
  readonly rejectRateLimitedCalls?: boolean;
  /** The SDK's console log level. @default LogLevel.WARN */
  readonly logLevel?: LogLevel;
}

/** The `WebClientOptions` of {@link createSlackClient}, also for Bolt's `clientOptions`. */
export function slackClientOptions(options: Omit<SlackClientOptions, 'token'>): WebClientOptions {
  const retries = options.retries ?? 3;
  return {
    slackApiUrl: options.apiUrl ?? DEFAULT_SLACK_API_URL,
    // Not the SDK default (10 retries over ~30 minutes): a step has its own retries and timeout.
    retryConfig: { retries, factor: 2, minTimeout: 500, maxTimeout: 5_000, randomize: true },
    timeout: options.timeoutMs ?? 10_000,
    rejectRateLimitedCalls: options.rejectRateLimitedCalls ?? false,
    logLevel: options.logLevel ?? LogLevel.WARN,
  };
}

/** A Web API client pointed at `apiUrl` with a short retry policy that honours 429 `Retry-After`. */
export function createSlackClient(options: SlackClientOptions): WebClient {
  return new WebClient(options.token, slackClientOptions(options));
}

/**
 * Slack settings from the environment (DESIGN.md §5). `options` is undefined when
 * `SLACK_BOT_TOKEN` is unset; `problems` name the variable and never echo a token.
 */
export function slackOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): { options: SlackClientOptions | undefined; problems: string[] } {
  const token = env['SLACK_BOT_TOKEN']?.trim();
  const apiUrl = env['SLACK_API_URL']?.trim() || undefined;
  const problems: string[] = [];
  if (apiUrl !== undefined && !(URL.canParse(apiUrl) && /^https?:$/.test(new URL(apiUrl).protocol))) {
    problems.push(`SLACK_API_URL must be an http(s) URL such as https://slack.com/api/; got ${JSON.stringify(apiUrl)}`);
  }
  if (!token) return { options: undefined, problems };
  return { options: { token, ...(apiUrl === undefined ? {} : { apiUrl }) }, problems };
}

/** Structured data attached to a message (`metadata`), readable back from `conversations.history`. */
export interface SlackMessageMetadata {
  readonly event_type: string;
  readonly event_payload: Readonly<Record<string, string | number | boolean>>;
}

/** A message to post. */
export interface SlackOutgoingMessage {
  /** A channel id (`C024BE91L`) or name (`#ml-incidents`). */
  readonly channel: string;
  readonly text: string;
  readonly threadTs?: string;
  readonly metadata?: SlackMessageMetadata;
}

/** A message as `conversations.history` shows it. */
export interface SlackHistoryMessage {
  readonly ts: string;
  readonly text: string;
  readonly metadata?: { readonly event_type?: string; readonly event_payload?: Readonly<Record<string, unknown>> };
}

/** What `notify` needs from Slack. Every method rejects with {@link SlackCallError}, or an AbortError when `signal` fires. */
export interface SlackMessenger {
  /** One `chat.postMessage`, never resent by the client (see the module comment). */
  postMessage(message: SlackOutgoingMessage, signal?: AbortSignal): Promise<{ readonly channel: string; readonly ts: string }>;
  /** The latest `limit` messages of a channel (by id), newest first, with their metadata. */
  recentMessages(channelId: string, limit: number, signal?: AbortSignal): Promise<SlackHistoryMessage[]>;
  /** The id of a channel given by id or `#name` (via `conversations.list`, cached); undefined when no channel has that name. */
  resolveChannelId(channel: string, signal?: AbortSignal): Promise<string | undefined>;
}

export const SLACK_CALL_ERROR_CODES = {
  /** Slack answered `ok: false` (`channel_not_found`, `not_in_channel` …); `slackError` holds it. */
  platform: 'slack_platform_error',
  /** HTTP 429: the call was not processed; `retryAfterMs` says when to try again. */
  rateLimited: 'slack_rate_limited',
  /** Network error, timeout or non-200 answer: a write may or may not have been applied. */
  requestFailed: 'slack_request_failed',
} as const;

export type SlackCallErrorCode = (typeof SLACK_CALL_ERROR_CODES)[keyof typeof SLACK_CALL_ERROR_CODES];

/** Platform errors Slack documents as transient. */
const TRANSIENT_PLATFORM_ERRORS: ReadonlySet<string> = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

/** A failed Slack call, with whether it may be retried and whether a write may have been applied. */
export class SlackCallError extends Error {
  override readonly name = 'SlackCallError';
  readonly code: SlackCallErrorCode;
  readonly retryable: boolean;
  /** The Web API method (`chat.postMessage`). */
  readonly method: string;
  /** Slack's error string for platform errors (`channel_not_found`). */
  readonly slackError: string | undefined;
  /** The 429's `Retry-After`, in ms. */
  readonly retryAfterMs: number | undefined;
  /** True when the request may have reached Slack and been applied (lost reply, timeout, 5xx). */
  readonly mayHaveApplied: boolean;

  constructor(code: SlackCallErrorCode, message: string, details: { method: string; retryable: boolean; slackError?: string; retryAfterMs?: number; mayHaveApplied?: boolean; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.method = details.method;
    this.retryable = details.retryable;
    this.slackError = details.slackError;
    this.retryAfterMs = details.retryAfterMs;
    this.mayHaveApplied = details.mayHaveApplied ?? false;
  }
}

interface SdkErrorShape {
  readonly code?: unknown;
  readonly data?: { readonly error?: unknown };
  readonly retryAfter?: unknown;
  readonly statusCode?: unknown;
  readonly original?: unknown;
  readonly message?: unknown;
}

/** Turns whatever a `@slack/web-api` call threw into a {@link SlackCallError}. */
export function toSlackCallError(error: unknown, method: string): SlackCallError {
  if (error instanceof SlackCallError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  switch (shape.code) {
    case ErrorCode.PlatformError: {
      const slackError = typeof shape.data?.error === 'string' ? shape.data.error : 'unknown_error';
      return new SlackCallError(SLACK_CALL_ERROR_CODES.platform, `Slack ${method} answered ${slackError}`, {
        method, slackError, retryable: TRANSIENT_PLATFORM_ERRORS.has(slackError), cause: error,
      });
    }
    case ErrorCode.RateLimitedError: {
      const seconds = typeof shape.retryAfter === 'number' ? shape.retryAfter : 1;
      return new SlackCallError(SLACK_CALL_ERROR_CODES.rateLimited, `Slack ${method} is rate limited (Retry-After: ${seconds}s)`, {
        method, retryable: true, retryAfterMs: seconds * 1000, cause: error,
      });
    }
    case ErrorCode.HTTPError: {
      const status = typeof shape.statusCode === 'number' ? shape.statusCode : 0;
      return new SlackCallError(SLACK_CALL_ERROR_CODES.requestFailed, `Slack ${method} answered HTTP ${status}`, { method, retryable: true, mayHaveApplied: true, cause: error });
    }
    default: {
      const original = shape.original instanceof Error ? shape.original : error;
      const why = original instanceof Error ? `${original.name}: ${original.message}` : String(original);
      return new SlackCallError(SLACK_CALL_ERROR_CODES.requestFailed, `Slack ${method} failed: ${why.slice(0, 300)}`, { method, retryable: true, mayHaveApplied: true, cause: error });
    }
  }
}

/** Options of {@link createSlackMessenger}. */
export interface SlackMessengerOptions extends SlackClientOptions {
  /** Pages of `conversations.list` read at most to find a channel by name. @default 10 */
  readonly maxChannelListPages?: number;
}

const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;

/** Builds the messenger: reads through a retrying client, posts through one that never resends. */
export function createSlackMessenger(options: SlackMessengerOptions): SlackMessenger {
  const reads = createSlackClient(options);
  const writes = createSlackClient({ ...options, retries: 0, rejectRateLimitedCalls: true });
  const channelIds = new Map<string, string>();
  const maxPages = options.maxChannelListPages ?? 10;
  const nameOf = (channel: string) => channel.replace(/^#/, '').toLowerCase();

  const listChannels = async (wanted: string, signal?: AbortSignal): Promise<string | undefined> => {
    let cursor: string | undefined;
    for (let page = 0; page < maxPages; page += 1) {
      const reply = await call('conversations.list', signal, () =>
        reads.conversations.list({ types: 'public_channel,private_channel', exclude_archived: true, limit: 200, ...(cursor ? { cursor } : {}) }));
      for (const channel of reply.channels ?? []) {
        if (channel.id && channel.name) channelIds.set(channel.name.toLowerCase(), channel.id);
      }
      const found = channelIds.get(wanted);
      cursor = reply.response_metadata?.next_cursor || undefined;
      if (found || !cursor) return found;
    }
    return undefined;
  };

  return {
    postMessage: async (message, signal) => {
      const reply = await call('chat.postMessage', signal, () =>
        writes.chat.postMessage({
          channel: message.channel,
          text: message.text,
          mrkdwn: true,
          unfurl_links: false,
          unfurl_media: false,
          ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
          ...(message.metadata ? { metadata: { event_type: message.metadata.event_type, event_payload: { ...message.metadata.event_payload } } } : {}),
        }));
      if (!reply.channel || !reply.ts) {
        throw new SlackCallError(SLACK_CALL_ERROR_CODES.requestFailed, 'Slack chat.postMessage answered without channel or ts', { method: 'chat.postMessage', retryable: true, mayHaveApplied: true });
      }
      if (!CHANNEL_ID.test(message.channel)) channelIds.set(nameOf(message.channel), reply.channel);
      return { channel: reply.channel, ts: reply.ts };
    },
    recentMessages: async (channelId, limit, signal) => {
      const reply = await call('conversations.history', signal, () => reads.conversations.history({ channel: channelId, limit, include_all_metadata: true }));
      return (reply.messages ?? []).flatMap((m): SlackHistoryMessage[] =>
        m.ts === undefined ? [] : [{ ts: m.ts, text: m.text ?? '', ...(m.metadata ? { metadata: { event_type: m.metadata.event_type, event_payload: m.metadata.event_payload } } : {}) }]);
    },
    resolveChannelId: async (channel, signal) => {
      if (CHANNEL_ID.test(channel)) return channel;
      return channelIds.get(nameOf(channel)) ?? listChannels(nameOf(channel), signal);
    },
  };
}

/** Runs one SDK call, mapping its failure to a {@link SlackCallError}; stops waiting when `signal` fires. */
async function call<T>(method: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  if (signal?.aborted) throw abortError(method);
  try {
    return await abortable(run(), signal, method);
  } catch (error) {
    if (signal?.aborted) throw abortError(method);
    throw toSlackCallError(error, method);
  }
}

/**
 * The SDK takes no per-call signal: on abort this stops waiting (the request itself ends by the
 * client's timeout), which is what a cancelled step needs.
 */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, method: string): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(method));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function abortError(method: string): Error {
  const error = new Error(`Slack ${method} was aborted`);
  error.name = 'AbortError';
  return error;
}

/**
 * Sends requests to a bot exactly as Slack does (REFERENCE.md §1.1–§1.3): slash commands and
 * interactivity payloads (`block_actions`, `view_submission`) as a bare
 * `application/x-www-form-urlencoded` body (`payload=<json>` for interactivity), signed with
 * `X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:<ts>:<body>")` and `X-Slack-Request-Timestamp`,
 * optionally with Slack's retry headers. Every payload carries a loopback `response_url` served
 * here, so replies the bot posts to it are captured. Raw helpers send forged, stale or replayed
 * requests. Product code: tests and the local sandbox use it; it listens on 127.0.0.1 only.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link createSlackRequestSender}. */
export interface SlackRequestSenderOptions {
  /** The bot's request URL (`http://127.0.0.1:3000/slack/events`). */
  readonly url: string;
  /** The app's signing secret, as the bot knows it. */
  readonly signingSecret: string;
  /** @default 'T0TEAM0001' (the Slack stand-in's team) */
  readonly teamId?: string;
  /** @default 'runbook-sandbox' */
  readonly teamDomain?: string;
  /** @default 'A0RUNBOOK01' */
  readonly apiAppId?: string;
  /** Milliseconds since the epoch; timestamps are signed from it. @default Date.now */
  readonly clock?: () => number;
  /** Deadline of one delivery. @default 10000 */
  readonly timeoutMs?: number;
}

/** The exact bytes and headers of one request, for replaying it. */
export interface SignedRequest {
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** What the bot answered to one delivery. */
export interface SlackDelivery {
  readonly status: number;
  /** The response body as text (empty for a bare ack). */
  readonly body: string;
  readonly contentType: string;
  /** How long the bot took to answer. */
  readonly elapsedMs: number;
  readonly request: SignedRequest;
  /** The payload's `response_url` (commands and message actions). */
  readonly responseUrl?: string;
  readonly triggerId?: string;
}

/** How to sign (or mis-sign) one request. */
export interface SendOptions {
  /** Unix seconds to sign with. @default now */
  readonly timestampSeconds?: number;
  /** Sign with another secret (a forgery). */
  readonly signingSecret?: string;
  /** Send this `X-Slack-Signature` instead of computing one. */
  readonly signature?: string;
  /** Send no signature headers at all. */
  readonly unsigned?: boolean;
  /** Adds `X-Slack-Retry-Num` (and `X-Slack-Retry-Reason`). */
  readonly retryNum?: number;
  /** @default 'http_timeout' when `retryNum` is set */
  readonly retryReason?: string;
  /** @default 'application/x-www-form-urlencoded' (exactly: Bolt compares with `===`) */
  readonly contentType?: string;
}

/** A slash command as a person types it. */
export interface SlashCommandOptions extends SendOptions {
  readonly text: string;
  readonly userId: string;
  /** @default userId lower-cased */
  readonly userName?: string;
  readonly channelId: string;
  /** @default 'general' */
  readonly channelName?: string;
  /** @default '/runbook' */
  readonly command?: string;
  /** @default a fresh one */
  readonly triggerId?: string;
}

/** A button click on a message (or in a modal when `view` is given). */
export interface BlockActionOptions extends SendOptions {
  readonly actionId: string;
  readonly value?: string;
  readonly userId: string;
  readonly userName?: string;
  /** The message's channel. */
  readonly channelId?: string;
  /** @default '1700000000.000100' */
  readonly messageTs?: string;
  /** @default 'actions' */
  readonly blockId?: string;
  readonly triggerId?: string;
  /** A click inside a modal: the view it belongs to (no channel, no `response_url`). */
  readonly view?: Readonly<Record<string, unknown>>;
}

/** One input's state in a submitted view. */
export type ViewInputState =
  | { readonly type: 'plain_text_input'; readonly value: string | null }
  | { readonly type: 'static_select'; readonly selected_option: { readonly text: { readonly type: 'plain_text'; readonly text: string }; readonly value: string } | null };

/** A modal's Submit button. */
export interface ViewSubmissionOptions extends SendOptions {
  readonly userId: string;
  readonly userName?: string;
  /** The view as opened (`views.open`'s `view`, e.g. from the stand-in's `state.views`): id, callback_id, private_metadata, blocks. */
  readonly view: Readonly<Record<string, unknown>>;
  /** `state.values`: block id → action id → input state. See {@link textInput} and {@link selectInput}. */
  readonly values: Readonly<Record<string, Readonly<Record<string, ViewInputState>>>>;
  readonly triggerId?: string;
}

/** A POST the bot made to a `response_url`. */
export interface CapturedResponse {
  readonly url: string;
  readonly contentType: string;
  /** The JSON body (or the raw text when it was not JSON). */
  readonly body: unknown;
  readonly atMs: number;
}

/** Signs and sends Slack requests to one bot, and captures what it posts to `response_url`s. */
export interface SlackRequestSender {
  slashCommand(options: SlashCommandOptions): Promise<SlackDelivery>;
  blockAction(options: BlockActionOptions): Promise<SlackDelivery>;
  viewSubmission(options: ViewSubmissionOptions): Promise<SlackDelivery>;
  /** POSTs `body` (already form-encoded) signed as `options` say. */
  sendSigned(body: string, options?: SendOptions): Promise<SlackDelivery>;
  /** POSTs exact bytes and headers again (a replay). */
  sendRaw(request: SignedRequest): Promise<SlackDelivery>;
  /** Resends a delivery's body the way Slack retries it: same body, fresh signature, retry headers. */
  retry(delivery: SlackDelivery, retryNum?: number, reason?: string): Promise<SlackDelivery>;
  /** The headers Slack would send with `body`. */
  sign(body: string, timestampSeconds?: number, secret?: string): Record<string, string>;
  /** Every POST to a `response_url` so far, oldest first. */
  readonly responses: readonly CapturedResponse[];
  responsesTo(responseUrl: string): CapturedResponse[];
  /** Resolves once `responseUrl` has received `count` POSTs; rejects after `timeoutMs` (default 10 s). */
  waitForResponses(responseUrl: string, count?: number, timeoutMs?: number): Promise<CapturedResponse[]>;
  close(): Promise<void>;
}

/** `{ type: 'plain_text_input', value }` for {@link ViewSubmissionOptions.values}. */
export function textInput(value: string | null): ViewInputState {
  return { type: 'plain_text_input', value };
}

/** `{ type: 'static_select', selected_option }` for {@link ViewSubmissionOptions.values}. */
export function selectInput(value: string | null): ViewInputState {
  return { type: 'static_select', selected_option: value === null ? null : { text: { type: 'plain_text', text: value }, value } };
}

/** `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>` (REFERENCE.md §1.1). */
export function slackSignature(secret: string, timestampSeconds: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestampSeconds}:${body}`).digest('hex')}`;
}

/** Starts the `response_url` capture server on loopback and returns the sender. */
export async function createSlackRequestSender(options: SlackRequestSenderOptions): Promise<SlackRequestSender> {
  const clock = options.clock ?? Date.now;
  const team = { id: options.teamId ?? 'T0TEAM0001', domain: options.teamDomain ?? 'runbook-sandbox' };
  const apiAppId = options.apiAppId ?? 'A0RUNBOOK01';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const capture = await startCaptureServer(clock);
  let seq = 0;
  const nextTriggerId = () => `${++seq}${Math.floor(clock() / 1000)}.${team.id.slice(1)}.${randomBytes(16).toString('hex')}`;
  const nextResponseUrl = () => `${capture.base}/commands/${team.id}/${++seq}/${randomBytes(12).toString('hex')}`;

  const sign = (body: string, timestampSeconds = Math.floor(clock() / 1000), secret = options.signingSecret): Record<string, string> => ({
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestampSeconds),
    'x-slack-signature': slackSignature(secret, timestampSeconds, body),
  });

  const sendRaw = async (request: SignedRequest, extra: Pick<SlackDelivery, 'responseUrl' | 'triggerId'> = {}): Promise<SlackDelivery> => {
    const started = clock();
    const response = await fetch(options.url, { method: 'POST', headers: request.headers, body: request.body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    return { status: response.status, body: text, contentType: response.headers.get('content-type') ?? '', elapsedMs: clock() - started, request, ...extra };
  };

  const sendSigned = (body: string, send: SendOptions = {}, extra: Pick<SlackDelivery, 'responseUrl' | 'triggerId'> = {}) => {
    const headers: Record<string, string> = send.unsigned ? { 'content-type': 'application/x-www-form-urlencoded' } : sign(body, send.timestampSeconds, send.signingSecret);
    if (send.signature !== undefined) headers['x-slack-signature'] = send.signature;
    if (send.contentType !== undefined) headers['content-type'] = send.contentType;
    if (send.retryNum !== undefined) {
      headers['x-slack-retry-num'] = String(send.retryNum);
      headers['x-slack-retry-reason'] = send.retryReason ?? 'http_timeout';
    }
    return sendRaw({ body, headers }, extra);
  };

  const user = (id: string, name: string | undefined) => ({ id, username: name ?? id.toLowerCase(), name: name ?? id.toLowerCase(), team_id: team.id });
  const interactive = (payload: Record<string, unknown>, send: SendOptions, extra: Pick<SlackDelivery, 'responseUrl' | 'triggerId'>) =>
    sendSigned(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), send, extra);

  return {
    sign,
    sendSigned: (body, send) => sendSigned(body, send),
    sendRaw: (request) => sendRaw(request),
    retry: (delivery, retryNum = 1, reason = 'http_timeout') =>
      sendSigned(delivery.request.body, { retryNum, retryReason: reason }, { ...(delivery.responseUrl ? { responseUrl: delivery.responseUrl } : {}), ...(delivery.triggerId ? { triggerId: delivery.triggerId } : {}) }),
    slashCommand: (command) => {
      const responseUrl = nextResponseUrl();
      const triggerId = command.triggerId ?? nextTriggerId();
      // Field order and names as Slack sends them (REFERENCE.md §1.1's worked example).
      const body = new URLSearchParams({
        token: 'legacy-verification-token',
        team_id: team.id,
        team_domain: team.domain,
        channel_id: command.channelId,
        channel_name: command.channelName ?? 'general',
        user_id: command.userId,
        user_name: command.userName ?? command.userId.toLowerCase(),
        command: command.command ?? '/runbook',
        text: command.text,
        api_app_id: apiAppId,
        is_enterprise_install: 'false',
        response_url: responseUrl,
        trigger_id: triggerId,
      }).toString();
      return sendSigned(body, command, { responseUrl, triggerId });
    },
    blockAction: (click) => {
      const triggerId = click.triggerId ?? nextTriggerId();
      const ts = click.messageTs ?? '1700000000.000100';
      const inView = click.view !== undefined;
      const responseUrl = inView ? undefined : nextResponseUrl();
      const payload: Record<string, unknown> = {
        type: 'block_actions',
        team,
        user: user(click.userId, click.userName),
        api_app_id: apiAppId,
        token: 'legacy-verification-token',
        trigger_id: triggerId,
        is_enterprise_install: false,
        enterprise: null,
        ...(inView
          ? { container: { type: 'view', view_id: click.view?.['id'] }, view: click.view }
          : {
              container: { type: 'message', message_ts: ts, channel_id: click.channelId, is_ephemeral: false },
              channel: { id: click.channelId, name: 'channel' },
              message: { type: 'message', ts, text: '', blocks: [] },
              response_url: responseUrl,
            }),
        state: { values: {} },
        actions: [{
          type: 'button', action_id: click.actionId, block_id: click.blockId ?? 'actions', ...(click.value !== undefined ? { value: click.value } : {}),
          text: { type: 'plain_text', text: click.actionId }, action_ts: `${Math.floor(clock() / 1000)}.000200`,
        }],
      };
      return interactive(payload, click, { ...(responseUrl ? { responseUrl } : {}), triggerId });
    },
    viewSubmission: (submission) => {
      const triggerId = submission.triggerId ?? nextTriggerId();
      const view = submission.view;
      const payload: Record<string, unknown> = {
        type: 'view_submission',
        team,
        user: user(submission.userId, submission.userName),
        api_app_id: apiAppId,
        token: 'legacy-verification-token',
        trigger_id: triggerId,
        view: {
          type: 'modal', team_id: team.id, app_id: apiAppId, bot_id: 'B0BOT00001', hash: `${Math.floor(clock() / 1000)}.${randomBytes(4).toString('hex')}`,
          private_metadata: '', callback_id: '', ...view,
          state: { values: submission.values },
        },
        response_urls: [],
        is_enterprise_install: false,
        enterprise: null,
      };
      return interactive(payload, submission, { triggerId });
    },
    get responses() {
      return capture.responses;
    },
    responsesTo: (url) => capture.responses.filter((r) => r.url === url),
    waitForResponses: async (url, count = 1, waitMs = 10_000) => {
      const deadline = clock() + waitMs;
      for (;;) {
        const got = capture.responses.filter((r) => r.url === url);
        if (got.length >= count) return got;
        if (clock() > deadline) throw new Error(`${url} received ${got.length} of ${count} expected POSTs within ${waitMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: capture.close,
  };
}

interface CaptureServer {
  readonly base: string;
  readonly responses: CapturedResponse[];
  close(): Promise<void>;
}

async function startCaptureServer(clock: () => number): Promise<CaptureServer> {
  const responses: CapturedResponse[] = [];
  let base = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        // Slack accepts only JSON here; keep the text so a test can show what came instead.
      }
      if (req.method === 'POST') responses.push({ url: `${base}${req.url ?? ''}`, contentType: String(req.headers['content-type'] ?? ''), body, atMs: clock() });
      res.writeHead(req.method === 'POST' ? 200 : 405, { 'content-type': 'text/plain' }).end(req.method === 'POST' ? 'ok' : '');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;
  return {
    base,
    responses,
    close: () => (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })),
  };
}

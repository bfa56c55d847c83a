/**
 * The Bolt app of the web process: the HTTP receiver at `POST /slack/events` (slash commands and
 * interactivity, every request's signature and timestamp checked by Bolt: 401 otherwise) plus
 * `/healthz` and `/readyz`; or Socket Mode when an app token is given. Listeners are thin: ack
 * first (Slack allows 3 s, and neither Redis nor the engine may delay that), then one call into
 * a handler. Only the modal submissions compute their ack, because Slack reads errors from it;
 * that computation is pure and in memory.
 */
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, SocketModeReceiver, type BlockAction, type ButtonAction, type Receiver, type ViewSubmitAction } from '@slack/bolt';
import type { Incidents } from '../engine/incident-port.ts';
import { slackClientOptions } from '../integrations/slack.ts';
import { ACTION_ID_PATTERN, createActionHandler } from './actions.ts';
import { createGroupResolver } from './approvers.ts';
import type { RunbookCatalog } from './catalog.ts';
import { createCommandHandler } from './commands.ts';
import { healthRoutes, type ReadinessChecks } from './health.ts';
import type { BotEngine, BotLogger, BotSlack, DeliveryDedupe } from './ports.ts';
import { boltLogger, createBotSlack } from './slack-port.ts';
import { createSubmissionHandler } from './submissions.ts';
import { MODAL_CALLBACKS } from './views/modals.ts';
import { createWebRequestListener, sendJson, type WebRoute } from './web-routes.ts';

/** Options of {@link createBotApp}; durations in milliseconds. */
export interface BotAppOptions {
  /** Bot token (`SLACK_BOT_TOKEN`); checked with `auth.test` at start. */
  readonly token: string;
  /** Signing secret (`SLACK_SIGNING_SECRET`); required in HTTP mode. */
  readonly signingSecret?: string;
  /** App-level token (`SLACK_APP_TOKEN`): Socket Mode instead of HTTP. */
  readonly appToken?: string;
  /** Web API base URL (`SLACK_API_URL`). @default https://slack.com/api/ */
  readonly apiUrl?: string;
  /** Port for `/slack/events` (HTTP mode) and the health routes. @default 3000 */
  readonly port?: number;
  /** Address to listen on. @default '0.0.0.0' */
  readonly host?: string;
  /** The slash command. @default '/runbook' */
  readonly command?: string;
  readonly engine: BotEngine;
  readonly catalog: RunbookCatalog;
  readonly dedupe: DeliveryDedupe;
  readonly readiness: ReadinessChecks;
  readonly logger: BotLogger;
  /** How long user-group membership is cached. @default 60000 */
  readonly groupCacheTtlMs?: number;
  /** Retries of a failed Web API call (network, 5xx, 429 after `Retry-After`). @default 2 */
  readonly slackRetries?: number;
  /** Deadline of one Web API call. @default 5000 */
  readonly slackTimeoutMs?: number;
  /** Replaces the Slack port (tests); default: Bolt's client. */
  readonly slack?: BotSlack;
  /** More HTTP routes of the web process (PagerDuty webhook, `/metrics`, reviewer pages). */
  readonly routes?: readonly WebRoute[];
  /** Wraps the HTTP request listener (request timing and trace spans, src/observability). @default none */
  readonly instrumentRequests?: (listener: RequestListener) => RequestListener;
  /** The incident service (`runtime.incidents`): `/runbook incident …`; absent, those commands say incidents are off. */
  readonly incidents?: Incidents;
}

/** A started bot. `stop()` is idempotent. */
export interface BotApp {
  readonly mode: 'http' | 'socket';
  /** The port the HTTP server listens on. */
  readonly port: number;
  stop(): Promise<void>;
}

/** Builds the app, checks the token (`auth.test`), and starts listening. */
export async function createBotApp(options: BotAppOptions): Promise<BotApp> {
  const logger = boltLogger(options.logger);
  const port = options.port ?? 3000;
  const host = options.host ?? '0.0.0.0';
  const clientOptions = { ...slackClientOptions({ ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}), retries: options.slackRetries ?? 2, timeoutMs: options.slackTimeoutMs ?? 5_000 }), logger };
  const receiver: Receiver = options.appToken
    ? new SocketModeReceiver({ appToken: options.appToken, logger, installerOptions: { clientOptions } })
    : new HTTPReceiver({ signingSecret: options.signingSecret ?? '', endpoints: '/slack/events', logger });
  // Deferred so a refused token is an error of `init()` here, not an unhandled rejection.
  const app = new App({ token: options.token, receiver, clientOptions, logger, deferInitialization: true });
  await app.init();
  registerListeners(app, options);
  if (options.appToken) await app.start();

  // The process owns its HTTP server (in Socket Mode too, for health and webhooks): routes first,
  // then Bolt's receiver for `/slack/events`, then 404.
  const routes = [...healthRoutes(options.readiness), ...(options.routes ?? [])];
  const fallback = options.appToken ? (_req: unknown, res: ServerResponse) => sendJson(res, 404, { error: 'not_found' }) : (receiver as HTTPReceiver).requestListener;
  const listener = createWebRequestListener(routes, fallback, (error, req) => options.logger.error({ err: error instanceof Error ? error.message : String(error), path: req.url }, 'an HTTP route failed'));
  const server = createServer(options.instrumentRequests ? options.instrumentRequests(listener) : listener);
  await listen(server, port, host);
  let stopping: Promise<void> | undefined;
  return {
    mode: options.appToken ? 'socket' : 'http',
    port: (server.address() as AddressInfo).port,
    stop: () => (stopping ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      if (options.appToken) await app.stop();
    })()),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function registerListeners(app: App, options: BotAppOptions): void {
  const slack = options.slack ?? createBotSlack(app.client);
  const groups = createGroupResolver({ slack, ...(options.groupCacheTtlMs !== undefined ? { ttlMs: options.groupCacheTtlMs } : {}) });
  const deps = { engine: options.engine, catalog: options.catalog, slack, dedupe: options.dedupe, logger: options.logger };
  const incidents = options.incidents ? { incidents: options.incidents } : {};
  const commands = createCommandHandler({ ...deps, ...incidents });
  const actions = createActionHandler({ ...deps, groups });
  const submissions = createSubmissionHandler({ ...deps, actions, ...incidents });

  app.command(options.command ?? '/runbook', async ({ ack, command }) => {
    await ack();
    await commands.handle({
      text: command.text ?? '',
      userId: command.user_id,
      userName: command.user_name,
      channelId: command.channel_id,
      ...(command.team_id ? { teamId: command.team_id } : {}),
      responseUrl: command.response_url,
      triggerId: command.trigger_id,
    });
  });

  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_ID_PATTERN }, async ({ ack, body, action }) => {
    await ack();
    const channelId = body.channel?.id ?? (typeof body.container['channel_id'] === 'string' ? body.container['channel_id'] : undefined);
    await actions.click({
      actionId: action.action_id,
      value: action.value,
      userId: body.user.id,
      userName: body.user.username ?? body.user.name ?? body.user.id,
      ...(channelId ? { channelId } : {}),
      ...(body.response_url ? { responseUrl: body.response_url } : {}),
      triggerId: body.trigger_id,
    });
  });

  const callbacks = new RegExp(`^(${Object.values(MODAL_CALLBACKS).map((c) => c.replace(/\./g, '\\.')).join('|')})$`);
  app.view<ViewSubmitAction>({ type: 'view_submission', callback_id: callbacks }, async ({ ack, body, view }) => {
    const outcome = submissions.submit({
      callbackId: view.callback_id,
      privateMetadata: view.private_metadata,
      values: view.state.values,
      userId: body.user.id,
      userName: body.user.name,
      triggerId: body.trigger_id,
    });
    await ack(outcome.response);
    await outcome.after?.();
  });

  app.error(async (error) => {
    options.logger.error({ code: error.code, err: error.message }, 'a Slack listener failed');
  });
}

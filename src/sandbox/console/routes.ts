/**
 * The sandbox console's HTTP side, mounted on the web process by `runbook dev` as one prefix
 * {@link WebRoute} at `/console`: the page (`/console`), its three static files
 * (`/console/static/…`), the state it polls (`GET /console/api/state`) and what a person does
 * (`POST /console/api/{command,action,submit,close,pagerduty}`), each turned into a request signed
 * exactly as Slack (or PagerDuty) signs it. Every response carries a strict Content-Security-Policy
 * (`default-src 'self'`: no inline script, no outside host). POSTs must be `application/json` from
 * the page's own origin, so another site cannot drive the console from a browser.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { pathOf, readBody, sendJson, type WebRoute } from '../../bot/web-routes.ts';
import type { SandboxState } from '../index.ts';
import type { SlackRequestSender } from '../slack-requests.ts';
import { actionInput, closeInput, commandInput, createConsoleActions, submitInput } from './actions.ts';
import { triggerPagerDutyIncident, type PagerDutyAlertOptions } from './pagerduty-alert.ts';
import { createSnapshotter, type ConsoleOrigins } from './snapshot.ts';

/** The console's base path. */
export const CONSOLE_PATH = '/console';
/** The alert the "Trigger PagerDuty incident" button raises unless the page names another. */
export const DEFAULT_ALERT = { service: 'model-serving', title: 'High p99 latency on model-x' } as const;

const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));
const STATIC_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;
const BODY_LIMIT_BYTES = 64 * 1024;
const alertInput = z.object({ service: z.string().trim().min(1).max(255).optional(), title: z.string().trim().min(1).max(255).optional() });

/** What the console needs once the bot listens. */
export interface ConsoleConnection {
  /** Signs and sends Slack requests to the bot's `/slack/events`. */
  readonly sender: SlackRequestSender;
  /** Where PagerDuty alerts go. */
  readonly alert: PagerDutyAlertOptions;
}

/** The console: its route, and `connect` to call once the bot's port is known (requests before it answer 503). */
export interface SandboxConsole {
  readonly routes: readonly WebRoute[];
  connect(connection: ConsoleConnection): void;
}

/** Builds the console over the sandbox's state. */
export function createSandboxConsole(state: SandboxState): SandboxConsole {
  const origins: ConsoleOrigins = { responseUrls: new Map(), triggers: new Map(), closedViews: new Set() };
  let connected: { connection: ConsoleConnection; actions: ReturnType<typeof createConsoleActions> } | undefined;
  const snapshot = createSnapshotter(state, origins, () => connected?.connection.sender.responses ?? []);

  const post = async <S extends z.ZodType>(req: IncomingMessage, res: ServerResponse, schema: S, act: (input: z.infer<S>, live: NonNullable<typeof connected>) => Promise<unknown> | unknown) => {
    if (!connected) return sendJson(res, 503, { error: 'console_not_ready', message: 'the bot is still starting' }, SECURITY_HEADERS);
    const refusal = refuseCrossSite(req);
    if (refusal) return sendJson(res, 403, { error: 'console_request_refused', message: refusal }, SECURITY_HEADERS);
    let input: z.infer<S>;
    try {
      const parsed = schema.safeParse(JSON.parse((await readBody(req, BODY_LIMIT_BYTES)).toString('utf8')));
      if (!parsed.success) return sendJson(res, 400, { error: 'console_input_invalid', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') }, SECURITY_HEADERS);
      input = parsed.data;
    } catch (error) {
      return sendJson(res, 400, { error: 'console_input_invalid', message: `expected a JSON body of at most ${BODY_LIMIT_BYTES} bytes (${error instanceof Error ? error.message : String(error)})` }, SECURITY_HEADERS);
    }
    try {
      return sendJson(res, 200, { ok: true, result: (await act(input, connected)) ?? null }, SECURITY_HEADERS);
    } catch (error) {
      const code = error instanceof Error && 'code' in error && error.code === 'console_input_invalid' ? 400 : 502;
      return sendJson(res, code, { error: code === 400 ? 'console_input_invalid' : 'console_delivery_failed', message: error instanceof Error ? error.message : String(error) }, SECURITY_HEADERS);
    }
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = pathOf(req.url);
    const method = req.method ?? 'GET';
    if (method === 'GET' && (path === CONSOLE_PATH || path === `${CONSOLE_PATH}/`)) return sendStatic(res, 'index.html');
    if (method === 'GET' && path.startsWith(`${CONSOLE_PATH}/static/`)) return sendStatic(res, path.slice(`${CONSOLE_PATH}/static/`.length));
    if (method === 'GET' && path === `${CONSOLE_PATH}/api/state`) return sendJson(res, 200, snapshot(), SECURITY_HEADERS);
    if (method === 'POST') {
      switch (path) {
        case `${CONSOLE_PATH}/api/command`: return post(req, res, commandInput, (input, live) => live.actions.command(input));
        case `${CONSOLE_PATH}/api/action`: return post(req, res, actionInput, (input, live) => live.actions.click(input));
        case `${CONSOLE_PATH}/api/submit`: return post(req, res, submitInput, (input, live) => live.actions.submit(input));
        case `${CONSOLE_PATH}/api/close`: return post(req, res, closeInput, (input, live) => live.actions.close(input));
        case `${CONSOLE_PATH}/api/pagerduty`: return post(req, res, alertInput, async (input, live) => {
          const { incident, delivery } = await triggerPagerDutyIncident(live.connection.alert, { service: input.service ?? DEFAULT_ALERT.service, title: input.title ?? DEFAULT_ALERT.title });
          return { incident: { id: incident.id, title: incident.title }, webhook: { status: delivery.status, eventId: delivery.eventId } };
        });
        default:
      }
    }
    sendJson(res, 404, { error: 'not_found', message: `no console route ${method} ${path}` }, SECURITY_HEADERS);
  };

  return {
    routes: [{ method: ['GET', 'POST'], path: CONSOLE_PATH, prefix: true, handler }],
    connect: (connection) => {
      connected = { connection, actions: createConsoleActions(state, connection.sender, origins) };
    },
  };
}

/** Why a POST cannot have come from the page itself, if it cannot. */
function refuseCrossSite(req: IncomingMessage): string | undefined {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return 'expected Content-Type: application/json';
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return `Origin ${JSON.stringify(origin.slice(0, 100))} is not a URL`;
    }
    if (host !== req.headers.host) return `a page from ${JSON.stringify(origin.slice(0, 100))} may not drive the console`;
  }
  return undefined;
}

async function sendStatic(res: ServerResponse, name: string): Promise<void> {
  const type = Object.hasOwn(STATIC_FILES, name) ? STATIC_FILES[name] : undefined;
  if (!type) return sendJson(res, 404, { error: 'not_found' }, SECURITY_HEADERS);
  const body = await readFile(`${STATIC_DIR}${name}`);
  res.writeHead(200, { 'content-type': type, ...SECURITY_HEADERS }).end(body);
}

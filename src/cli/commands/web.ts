/**
 * `runbook web` (Procfile `web`): the Slack app. Bolt's HTTP receiver at `POST /slack/events`
 * (or Socket Mode when `SLACK_APP_TOKEN` is set), `GET /healthz` and `GET /readyz`, and the
 * engine with no workers: the web process starts runs and applies clicks, `runbook worker`
 * processes run the steps. SIGTERM stops taking requests, then closes; a second one forces.
 */
import { auditPageRoutes, auditPageSource } from '../../bot/audit-page/routes.ts';
import { createAdminAuth } from '../../observability/admin-auth.ts';
import { untilSignalled } from '../shutdown.ts';
import type { LoadedRunbook } from '../../machines/load.ts';
import type { ExecutorCatalog } from '../../machines/executor-spec.ts';
import { slackOptionsFromEnv } from '../../integrations/slack.ts';
import { createBotApp, type BotApp } from '../../bot/app.ts';
import type { WebRoute } from '../../bot/web-routes.ts';
import type { App } from '../bootstrap.ts';
import { createRunbookCatalog } from '../../bot/catalog.ts';
import { createRedisDedupe } from '../../bot/dedupe.ts';
import { CliError } from '../cli-error.ts';
import { pagerDutyWebhookRoutes } from '../pagerduty-wiring.ts';
import { loadConfig, type AppConfig } from '../config.ts';
import { connectApp } from '../connect.ts';
import type { CliIo } from '../io.ts';
import { createLogger, type Logger } from '../logger.ts';
import { collectRunbookFiles, displayPath, readRunbookFile } from '../runbook-files.ts';
import { createProcessObservability, observabilitySettingsFromEnv, type ProcessObservability } from '../../observability/setup.ts';
import { webObservability } from '../../observability/web.ts';

/** The Slack settings of the web process (DESIGN.md §5), validated. */
export interface WebSettings {
  readonly token: string;
  /** Set in HTTP mode (required there). */
  readonly signingSecret?: string;
  /** Set: Socket Mode. */
  readonly appToken?: string;
  readonly apiUrl?: string;
  /** @default 3000 */
  readonly port: number;
  /** @default '0.0.0.0' */
  readonly host: string;
}

/**
 * Reads `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`, `SLACK_APP_TOKEN`, `SLACK_API_URL`, `PORT` and
 * `HOST` together with the shared configuration, reporting every problem at once. Secrets are
 * named, never echoed.
 */
export function loadWebConfig(env: CliIo['env'], cwd: string): { config: AppConfig; web: WebSettings } {
  const problems: string[] = [];
  let config: AppConfig | undefined;
  try {
    config = loadConfig(env, cwd);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    problems.push(...error.message.split('\n'));
  }
  const value = (name: string) => env[name]?.trim() || undefined;
  const slack = slackOptionsFromEnv(env);
  problems.push(...slack.problems);
  const token = value('SLACK_BOT_TOKEN');
  const appToken = value('SLACK_APP_TOKEN');
  const signingSecret = value('SLACK_SIGNING_SECRET');
  if (!token) problems.push('SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) from your Slack app\'s "OAuth & Permissions" page');
  else if (!token.startsWith('xoxb-')) problems.push('SLACK_BOT_TOKEN must be a bot token starting with xoxb- (value not shown)');
  if (appToken !== undefined && !appToken.startsWith('xapp-')) problems.push('SLACK_APP_TOKEN must be an app-level token starting with xapp- (value not shown); unset it for HTTP mode');
  if (!appToken && !signingSecret) problems.push('SLACK_SIGNING_SECRET is not set: the signing secret from your Slack app\'s "Basic Information → App Credentials" (or set SLACK_APP_TOKEN for Socket Mode)');
  const rawPort = value('PORT');
  const port = rawPort === undefined ? 3000 : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) problems.push(`PORT must be a whole number from 0 to 65535; got ${JSON.stringify(rawPort)}`);
  const host = value('HOST') ?? '0.0.0.0';
  if (problems.length > 0 || !config || !token) throw new CliError('config_invalid', problems.join('\n'));
  return {
    config,
    web: { token, port, host, ...(signingSecret ? { signingSecret } : {}), ...(appToken ? { appToken } : {}), ...(slack.options?.apiUrl ? { apiUrl: slack.options.apiUrl } : {}) },
  };
}

/** Every runbook file in `dir`, compiled (with errors, for the catalog to leave out). */
async function readRunbooks(dir: string, catalog: ExecutorCatalog): Promise<LoadedRunbook[]> {
  const files = await collectRunbookFiles([dir]);
  return Promise.all(files.map((file) => readRunbookFile(file, catalog)));
}

/** Runs the web process until SIGTERM/SIGINT; exit 0 after a clean shutdown. */
export async function webCommand(config: AppConfig, web: WebSettings, io: CliIo): Promise<number> {
  const logger = createLogger(config.logLevel, io.stderr, { process: 'web', pid: process.pid });
  const observed = observabilitySettingsFromEnv(io.env);
  if (observed.problems.length > 0) throw new CliError('config_invalid', observed.problems.join('\n'));
  const observability = await createProcessObservability('web', observed.settings);
  const app = await connectApp(config, io, 'web', { workers: {}, reconciler: true, observer: observability.observer });
  const bot = await startWebBot(app, web, logger, [], { observability, ...(observed.settings.auditToken ? { auditToken: observed.settings.auditToken } : {}) });
  logger.info({ mode: bot.mode, port: bot.port, ...(bot.mode === 'http' ? { endpoint: '/slack/events' } : {}), prefix: config.redisPrefix }, 'web ready');
  return untilSignalled(logger, async (force) => {
    await bot.stop().catch(() => undefined);
    await observability.close();
    await app.close(force);
  }, 'no longer taking requests; closing (send again to force)');
}

/**
 * The web process's bot on a started app: the runbook catalog, Bolt and every HTTP route, plus
 * `routes` (`runbook dev` adds the sandbox console). On failure the app is closed. Shared by
 * `runbook web` and `runbook dev`, so both serve exactly the same bot.
 */
export async function startWebBot(app: App, web: WebSettings, logger: Logger, routes: readonly WebRoute[] = [], observe?: { readonly observability: ProcessObservability; readonly auditToken?: string }): Promise<BotApp> {
  const config = app.config;
  let bot: BotApp;
  try {
    // `/metrics`, `/admin/queues` (behind AUDIT_TOKEN) and request timing/spans (src/observability).
    // One sign-in (AUDIT_TOKEN) for the queue dashboard and the reviewer page at /audit.
    const auth = createAdminAuth({ token: observe?.auditToken });
    const auditRoutes = auditPageRoutes({ auth, source: auditPageSource(app.audit) });
    const observed = observe ? webObservability(observe.observability, app.runtime, { auth, otherRoutes: [{ path: '/pagerduty/webhook' }, ...auditRoutes, ...routes] }) : undefined;
    const catalog = await createRunbookCatalog({ load: () => readRunbooks(config.runbooksDir, app.catalog), logger });
    const status = catalog.status();
    if (status.error) logger.error({ runbooksDir: displayPath(config.runbooksDir), err: status.error }, 'no runbooks loaded; /readyz answers 503 until they are');
    bot = await createBotApp({
      token: web.token,
      ...(web.signingSecret ? { signingSecret: web.signingSecret } : {}),
      ...(web.appToken ? { appToken: web.appToken } : {}),
      ...(web.apiUrl ? { apiUrl: web.apiUrl } : {}),
      port: web.port,
      host: web.host,
      engine: app.runtime.engine,
      incidents: app.runtime.incidents,
      catalog,
      dedupe: createRedisDedupe({ redis: app.runtime.redis, prefix: config.redisPrefix }),
      logger,
      readiness: {
        redis: async () => ({ ok: (await app.runtime.redis.ping()) === 'PONG' }),
        runbooks: async () => {
          const now = catalog.status();
          return now.loaded && now.count > 0 ? { ok: true, detail: `${now.count} loaded` } : { ok: false, detail: now.error ?? `no valid runbooks in ${displayPath(config.runbooksDir)}` };
        },
      },
      routes: [...pagerDutyWebhookRoutes({ config, runtime: app.runtime, logger }).routes, ...auditRoutes, ...routes, ...(observed?.routes ?? auth.routes)],
      ...(observed ? { instrumentRequests: observed.instrumentRequests } : {}),
    });
  } catch (error) {
    await app.close();
    throw new CliError('slack_start_failed', `could not start the Slack app: ${describeStartError(error)}`);
  }
  return bot;
}

/** Bolt's start failures in one line: `auth.test` refusing the token is the common one. */
function describeStartError(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const data = 'data' in error && typeof error.data === 'object' && error.data !== null && 'error' in error.data ? String(error.data.error) : undefined;
  const original = 'original' in error && error.original instanceof Error ? error.original.message : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (data === 'invalid_auth' || data === 'not_authed' || /invalid_auth|not_authed/.test(message)) {
    return 'Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth); check the token and SLACK_API_URL';
  }
  return (original ?? message).slice(0, 300);
}

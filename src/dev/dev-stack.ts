/**
 * Everything `runbook dev` runs, in one process: the sandbox stand-ins (`src/sandbox/`), Redis
 * (embedded unless REDIS_URL is set), the engine with the step, timer and notify workers, and the
 * web process's bot (the same `startWebBot` as `runbook web`) with the sandbox console mounted at
 * `/console`. The bot is wired to the stand-ins by configuration only: the environment the
 * sandbox prints (`SLACK_API_URL`, `PAGERDUTY_API_URL`, `AWS_ENDPOINT_URL_SSM`, `SANDBOX_HOSTS`,
 * `TARGETS_FILE`, tokens) is laid over the caller's, exactly as `runbook sandbox` prints it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BotApp } from '../bot/app.ts';
import type { App } from '../cli/bootstrap.ts';
import { loadWebConfig, startWebBot } from '../cli/commands/web.ts';
import { CliError } from '../cli/cli-error.ts';
import { connectApp, quietConfig } from '../cli/connect.ts';
import type { CliIo } from '../cli/io.ts';
import { createLogger } from '../cli/logger.ts';
import { createProcessObservability, observabilitySettingsFromEnv } from '../observability/setup.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { createSandboxConsole, CONSOLE_PATH } from '../sandbox/console/routes.ts';
import type { PagerDutyAlertOptions } from '../sandbox/console/pagerduty-alert.ts';
import { createSlackRequestSender, type SlackRequestSender } from '../sandbox/slack-requests.ts';

/** Options of {@link startDevStack}. */
export interface DevStackOptions {
  /** The caller's environment; the sandbox's is laid over it. */
  readonly env: CliIo['env'];
  readonly cwd: string;
  /** Where logs go (stderr). */
  readonly io: CliIo;
  /** Host the web process listens on. @default '127.0.0.1' (the sandbox is for this machine only) */
  readonly host?: string;
}

/** A running dev stack. `close()` is idempotent and stops everything, the stand-ins last. */
export interface DevStack {
  /** `http://localhost:<port>` */
  readonly baseUrl: string;
  /** `http://localhost:<port>/console` */
  readonly consoleUrl: string;
  readonly port: number;
  readonly sandbox: Sandbox;
  readonly app: App;
  /** Signs Slack requests to the bot, as the console does. */
  readonly sender: SlackRequestSender;
  /** Where PagerDuty alerts go (the bot's webhook, its secret, the stand-in). */
  readonly alert: PagerDutyAlertOptions;
  /** The DATA_DIR in use; a temporary one (removed by `close`) unless DATA_DIR was set. */
  readonly dataDir: string;
  close(force?: boolean): Promise<void>;
}

/** Starts the stand-ins, the engine with workers and the bot with the console; resolves once the bot listens. */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const sandbox = await startSandbox();
  // A sandbox's Slack and PagerDuty start empty on each start, so by default its runs do too: runs
  // left in a kept DATA_DIR would hold concurrency keys and post to channels that no longer exist.
  const ownsDataDir = !options.env['DATA_DIR']?.trim();
  const dataDir = ownsDataDir ? mkdtempSync(join(tmpdir(), 'runbook-dev-')) : (options.env['DATA_DIR']?.trim() ?? '');
  const env = { ...options.env, ...sandbox.env, DATA_DIR: dataDir, HOST: options.host ?? '127.0.0.1' };
  // Executors and the AWS SDK read their settings (AWS_ENDPOINT_URL_SSM, the control APIs'
  // auth_header_env tokens) from this process's environment, as a worker process does.
  const restoreEnv = applyToProcessEnv(sandbox.env);
  const cleanup: (() => Promise<void>)[] = [async () => restoreEnv(), () => sandbox.close()];
  if (ownsDataDir) cleanup.unshift(async () => rmSync(dataDir, { recursive: true, force: true }));
  const undo = async () => {
    for (const step of cleanup) await step().catch(() => undefined);
  };
  try {
    const loaded = loadWebConfig(env, options.cwd);
    const config = quietConfig(loaded.config, options.env);
    const io = { ...options.io, env };
    const observed = observabilitySettingsFromEnv(env);
    if (observed.problems.length > 0) throw new CliError('config_invalid', observed.problems.join('\n'));
    const observability = await createProcessObservability('dev', observed.settings);
    cleanup.unshift(() => observability.close());
    const app = await connectApp(config, io, 'dev', { workers: { steps: true, timers: true, notify: true }, reconciler: true, observer: observability.observer });
    cleanup.unshift(() => app.close());
    const logger = createLogger(config.logLevel, options.io.stderr, { process: 'dev', pid: process.pid });
    const sandboxConsole = createSandboxConsole(sandbox.state);
    // The same bot as `runbook web`, /metrics and /admin/queues included, plus the console.
    const bot: BotApp = await startWebBot(app, loaded.web, logger, sandboxConsole.routes, { observability, ...(observed.settings.auditToken ? { auditToken: observed.settings.auditToken } : {}) });
    cleanup.unshift(() => bot.stop());
    const local = `http://127.0.0.1:${bot.port}`;
    const sender = await createSlackRequestSender({ url: `${local}/slack/events`, signingSecret: sandbox.env['SLACK_SIGNING_SECRET'] ?? '' });
    cleanup.unshift(() => sender.close());
    // The PagerDuty stand-in is subscribed to the bot's webhook, as a real PagerDuty account would be.
    const webhookSecret = sandbox.env['PAGERDUTY_WEBHOOK_SECRET'] ?? '';
    sandbox.state.pagerduty.setWebhook({ url: `${local}/pagerduty/webhook`, secret: webhookSecret });
    const alert: PagerDutyAlertOptions = {
      apiUrl: sandbox.env['PAGERDUTY_API_URL'] ?? '', token: sandbox.env['PAGERDUTY_TOKEN'] ?? '',
      webhookUrl: `${local}/pagerduty/webhook`, webhookSecret,
      deliveries: { list: () => sandbox.state.pagerduty.deliveries, idle: () => sandbox.state.pagerduty.webhooksIdle() },
    };
    sandboxConsole.connect({ sender, alert });
    const baseUrl = `http://localhost:${bot.port}`;
    let closing: Promise<void> | undefined;
    return {
      baseUrl, consoleUrl: `${baseUrl}${CONSOLE_PATH}`, port: bot.port, sandbox, app, sender, alert, dataDir,
      close: (force = false) => (closing ??= (async () => {
        await bot.stop().catch(() => undefined);
        await sender.close().catch(() => undefined);
        await observability.close().catch(() => undefined);
        await app.close(force).catch(() => undefined);
        await sandbox.close();
        restoreEnv();
        if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
      })()),
    };
  } catch (error) {
    await undo();
    throw error;
  }
}

/** Sets `values` in `process.env`; returns how to put back what was there. */
function applyToProcessEnv(values: Readonly<Record<string, string>>): () => void {
  const previous = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  Object.assign(process.env, values);
  return () => {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

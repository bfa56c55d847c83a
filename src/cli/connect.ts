/**
 * Connecting CLI commands to the engine. `run` starts workers of its own; `list`, `status`,
 * `cancel`, `approve`… start none, so they work against a shared `REDIS_URL` or a DATA_DIR whose
 * embedded Redis nobody else owns. Setup failures become one actionable line, never a stack trace,
 * and the app is always closed so the process can exit.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isEngineError } from '../engine/errors.ts';
import type { RunRecord } from '../engine/run-store.ts';
import { createRedisConnection, waitForRedis } from '../integrations/redis.ts';
import { redactRedisUrl, unixSocketUrl } from '../integrations/redis-url.ts';
import { startApp, type App } from './bootstrap.ts';
import { CliError } from './cli-error.ts';
import type { AppConfig } from './config.ts';
import type { CliIo } from './io.ts';
import { createLogger } from './logger.ts';

type StartOptions = Parameters<typeof startApp>[2];

/** How long a command waits for REDIS_URL to answer before saying it cannot reach it. */
const REDIS_PROBE_MS = 5_000;

/** Engine logs go to stderr as JSON lines; unless LOG_LEVEL says otherwise, only warnings, so the terminal shows the command's own output. */
export function quietConfig(config: AppConfig, env: CliIo['env']): AppConfig {
  return env['LOG_LEVEL']?.trim() ? config : { ...config, logLevel: 'warn' };
}

/** Starts the app, turning Redis setup failures into a {@link CliError}. */
export async function connectApp(config: AppConfig, io: CliIo, command: string, options: StartOptions): Promise<App> {
  const logger = createLogger(config.logLevel, io.stderr, { process: command, pid: process.pid });
  if (config.redisUrl) await probeRedis(config.redisUrl);
  try {
    return await startApp(config, logger, options);
  } catch (error) {
    throw await setupProblem(error, config);
  }
}

/** Runs `use` against an app without workers (a client of whoever runs them), then closes it. */
export async function withClientApp<T>(config: AppConfig, io: CliIo, command: string, use: (app: App) => Promise<T>): Promise<T> {
  const app = await connectApp(quietConfig(config, io.env), io, command, { workers: {}, reconciler: false });
  try {
    return await use(app);
  } catch (error) {
    throw engineProblem(error);
  } finally {
    await app.close();
  }
}

/** The run, or a one-line error naming where it was looked for. */
export async function requireRun(app: App, runId: string): Promise<RunRecord> {
  const run = await app.runtime.engine.getRun(runId);
  if (run) return run;
  const where = app.config.redisUrl ? `REDIS_URL, prefix ${app.config.redisPrefix}` : `the embedded Redis of ${app.config.dataDir}, prefix ${app.config.redisPrefix}`;
  throw new CliError('run_not_found', `no run ${runId} (looked in ${where}); \`runbook list\` shows recent runs`);
}

/** Engine refusals that are about the request (unknown run, bad params, a concurrent run) exit 2 with their message. */
export function engineProblem(error: unknown): unknown {
  if (isEngineError(error) && ['run_not_found', 'runbook_invalid', 'runbook_param_invalid', 'run_concurrency_conflict', 'run_busy', 'policy_denied'].includes(error.code)) {
    return new CliError(error.code, error.message);
  }
  return error;
}

/** Fails fast, in one line, when REDIS_URL does not answer (rather than retrying deep inside the runtime). */
async function probeRedis(url: string): Promise<void> {
  const probe = createRedisConnection(url, { role: 'command', connectionName: 'runbook-bot:cli-probe', logger: { warn: () => undefined } });
  try {
    if (!(await waitForRedis(probe, REDIS_PROBE_MS))) {
      throw new CliError('redis_unreachable', `cannot reach Redis at REDIS_URL=${redactRedisUrl(url)} within ${REDIS_PROBE_MS / 1000}s; is it running?`);
    }
  } finally {
    probe.disconnect();
  }
}

async function setupProblem(error: unknown, config: AppConfig): Promise<unknown> {
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  if (!code.startsWith('redis_') || !(error instanceof Error)) return error;
  if (code !== 'redis_embedded_in_use') return new CliError(code, error.message);
  const socket = await embeddedSocketOf(config.dataDir);
  const hint = socket
    ? `set REDIS_URL=${unixSocketUrl(socket)} to talk to it`
    : 'set REDIS_URL to the Redis that process uses (for example your running `runbook dev` instance)';
  return new CliError(code, `another runbook process owns the embedded Redis of DATA_DIR ${config.dataDir}; ${hint}, or use another DATA_DIR`);
}

/** The socket of the embedded Redis that owns `dataDir`, from its pidfile (best effort). */
async function embeddedSocketOf(dataDir: string): Promise<string | undefined> {
  const text = await readFile(join(dataDir, 'redis', 'embedded.pid'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    const socket = typeof parsed === 'object' && parsed !== null && 'socketPath' in parsed ? parsed.socketPath : undefined;
    return typeof socket === 'string' ? socket : undefined;
  } catch {
    return undefined;
  }
}

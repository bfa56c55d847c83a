/**
 * Redis connections for BullMQ, the engine's run store and the HTTP handlers, and the choice
 * between `REDIS_URL` and the embedded `redis-server` (DESIGN.md §5).
 *
 * Why the options differ per role (REFERENCE.md §5.2):
 * - `worker`: BullMQ Workers and QueueEvents block on Redis and must ride out an outage, so
 *   `maxRetriesPerRequest: null` (BullMQ refuses anything else) and the offline queue stays on.
 * - `producer`: used by HTTP handlers that must ack Slack within 3 s. A command issued while Redis
 *   is unreachable fails at once (`enableOfflineQueue: false`) and a command in flight when the
 *   link drops is retried once; `commandTimeout` bounds a server that accepts but never answers.
 *   A timed-out `Queue.add` may still have happened: job ids are deterministic, so re-adding is
 *   harmless (DESIGN.md §2).
 * - `command`: the engine's non-blocking reads and Lua writes, the reconciler and the CLI. It
 *   queues commands through a short reconnect (offline queue on, 3 retries ≈ 3 s of outage) and
 *   then fails, so callers see an error instead of hanging.
 * `producer` and `command` set `commandTimeout`: never issue blocking commands (BLPOP, XREAD
 * BLOCK) on them — that is what `worker` connections are for.
 *
 * Protocol: we keep ioredis 6's default, RESP3, and pin it explicitly together with
 * `replyMapping: 'legacy'`. BullMQ 6.7.0 works with it (REFERENCE.md §5.1; our integration test
 * round-trips a job over these exact options), the legacy mapping gives RESP2-shaped replies so no
 * parser depends on the protocol, and ioredis downgrades to RESP2 by itself when a server lacks
 * `HELLO 3` (Redis < 6). Pinning it means an ioredis default change cannot alter behaviour silently.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from './redis-embedded.ts';
import { describeRedisTarget, parseRedisUrl, type RedisTarget } from './redis-url.ts';

/** What a connection is for; picks retry and timeout behaviour (see the module comment). */
export type RedisRole = 'worker' | 'producer' | 'command';

/** A pino-compatible logger; only `warn` is required. */
export interface RedisLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
}

/** Options of {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  role: RedisRole;
  /** Receives connection errors (deduplicated) and recoveries. @default a one-line stderr logger */
  logger?: RedisLogger;
  /** Shown by `CLIENT LIST`. @default `runbook-bot:<role>` */
  connectionName?: string;
}

/** The role-dependent part of the ioredis options. Exported for tests and documentation. */
export interface RedisRoleOptions {
  maxRetriesPerRequest: number | null;
  enableOfflineQueue: boolean;
  connectTimeoutMs: number;
  /** Undefined: no per-command timeout (blocking commands must be able to wait). */
  commandTimeoutMs: number | undefined;
  /** Reconnect delay cap; reconnection never stops, so a process recovers once Redis is back. */
  maxReconnectDelayMs: number;
}

/** Role → options, compiled once (STYLE.md rule 5). */
export const REDIS_ROLE_OPTIONS: Readonly<Record<RedisRole, Readonly<RedisRoleOptions>>> = {
  worker: { maxRetriesPerRequest: null, enableOfflineQueue: true, connectTimeoutMs: 10_000, commandTimeoutMs: undefined, maxReconnectDelayMs: 20_000 },
  producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeoutMs: 3_000, commandTimeoutMs: 2_000, maxReconnectDelayMs: 5_000 },
  command: { maxRetriesPerRequest: 3, enableOfflineQueue: true, connectTimeoutMs: 5_000, commandTimeoutMs: 10_000, maxReconnectDelayMs: 5_000 },
};

/** The RESP version we pin; see the module comment. */
export const REDIS_PROTOCOL = 3;

/**
 * Builds the ioredis options for a URL and role without connecting. Pure; used by
 * {@link createRedisConnection} and by tests.
 *
 * @throws RedisSetupError `redis_url_invalid` for a malformed URL (password never echoed).
 */
export function buildRedisOptions(url: string, role: RedisRole, connectionName = `runbook-bot:${role}`): RedisOptions {
  return optionsForTarget(parseRedisUrl(url), role, connectionName);
}

function optionsForTarget(target: RedisTarget, role: RedisRole, connectionName: string): RedisOptions {
  const roleOptions = REDIS_ROLE_OPTIONS[role];
  return {
    ...targetOptions(target),
    db: target.db,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    protocol: REDIS_PROTOCOL,
    replyMapping: 'legacy',
    connectionName,
    maxRetriesPerRequest: roleOptions.maxRetriesPerRequest,
    enableOfflineQueue: roleOptions.enableOfflineQueue,
    connectTimeout: roleOptions.connectTimeoutMs,
    ...(roleOptions.commandTimeoutMs === undefined ? {} : { commandTimeout: roleOptions.commandTimeoutMs }),
    // BullMQ's own curve: 1 s for the first attempts, then exponential, capped per role.
    retryStrategy: (times: number) => Math.max(Math.min(Math.exp(times), roleOptions.maxReconnectDelayMs), 1_000),
  };
}

function targetOptions(target: RedisTarget): RedisOptions {
  if (target.kind === 'unix') return { path: target.path };
  const isIpAddress = /^[\d.]+$/.test(target.host) || target.host.includes(':');
  // TLS SNI must be a host name; Node rejects an IP address as servername.
  const tls = target.tls ? { tls: isIpAddress ? {} : { servername: target.host } } : {};
  return { host: target.host, port: target.port, ...tls };
}

/**
 * Creates an ioredis 6 client for `url` with the options of `role` and an `error` listener, so a
 * Redis outage is logged (once per distinct error or lost link, again on recovery) and never crashes the
 * process with an unhandled 'error' event. Pass the client to BullMQ as `connection`: in native
 * ESM BullMQ cannot load ioredis itself and needs a constructed client (its Workers duplicate it
 * for their blocking connection, keeping these options).
 *
 * @throws RedisSetupError `redis_url_invalid` for a malformed URL (password never echoed).
 */
export function createRedisConnection(url: string, options: RedisConnectionOptions): Redis {
  const target = parseRedisUrl(url);
  const connection = new Redis(optionsForTarget(target, options.role, options.connectionName ?? `runbook-bot:${options.role}`));
  watchConnection(connection, {
    role: options.role,
    redis: describeRedisTarget(target),
    logger: options.logger ?? stderrLogger,
    password: target.password,
  });
  return connection;
}

interface WatchContext {
  role: RedisRole;
  redis: string;
  logger: RedisLogger;
  password: string | undefined;
}

function watchConnection(connection: Redis, context: WatchContext): void {
  // During an outage ioredis emits the same error on every reconnect attempt: log each distinct
  // error once, a clean disconnect (no error) once, and the recovery once.
  let lastMessage: string | undefined;
  let isDegraded = false;
  const fields = { role: context.role, redis: context.redis };
  connection.on('error', (error: unknown) => {
    isDegraded = true;
    const message = maskSecret(error instanceof Error ? error.message : String(error), context.password);
    if (message === lastMessage) return;
    lastMessage = message;
    const code = error instanceof Error && 'code' in error ? String(error.code) : undefined;
    context.logger.warn({ ...fields, error: message, ...(code === undefined ? {} : { code }) }, 'redis connection error');
  });
  connection.on('reconnecting', () => {
    if (isDegraded) return;
    isDegraded = true;
    context.logger.warn(fields, 'redis connection lost; reconnecting');
  });
  connection.on('ready', () => {
    if (!isDegraded) return;
    isDegraded = false;
    lastMessage = undefined;
    context.logger.info?.(fields, 'redis connection restored');
  });
}

function maskSecret(text: string, secret: string | undefined): string {
  return secret === undefined || secret === '' ? text : text.split(secret).join('***');
}

const stderrLogger: RedisLogger = {
  warn: (fields, message) => console.warn(`${message} ${JSON.stringify(fields)}`),
  info: (fields, message) => console.info(`${message} ${JSON.stringify(fields)}`),
};

/**
 * Whether `connection` answers PING within `timeoutMs`, waiting for a (re)connection if needed.
 * For readiness checks and start-up: resolves `true` or `false`, never throws or rejects, and
 * leaves no timer or listener behind.
 */
export async function waitForRedis(connection: Redis, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + Math.max(0, timeoutMs);
  try {
    if (connection.status === 'wait') connection.connect().catch(() => undefined);
    while (Date.now() < deadline) {
      if (connection.status === 'end') return false;
      if (connection.status !== 'ready') {
        await waitForEvent(connection, 'ready', deadline - Date.now());
        continue;
      }
      if (await pingWithin(connection, deadline - Date.now())) return true;
      await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
    }
    return false;
  } catch {
    return false;
  }
}

async function pingWithin(connection: Redis, timeoutMs: number): Promise<boolean> {
  const ping = connection.ping().then((reply) => reply === 'PONG', () => false);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
  });
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function waitForEvent(connection: Redis, event: 'ready', timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      connection.off(event, done);
      connection.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, timeoutMs));
    connection.once(event, done);
    connection.once('end', done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What {@link resolveRedis} decided: the URL to connect to and, if we started it, the server. */
export interface ResolvedRedis {
  url: string;
  /** Present when no `REDIS_URL` was set; stop it on shutdown (also stopped on process exit). */
  embedded?: EmbeddedRedis;
}

/**
 * Picks the Redis of this process (DESIGN.md §5): `REDIS_URL` when set (validated here, so a typo
 * fails at start with a clear message), otherwise a private embedded `redis-server` with its data
 * in `<dataDir>/redis`. A blank `REDIS_URL` counts as unset.
 *
 * @throws RedisSetupError `redis_url_invalid`, or any code of {@link startEmbeddedRedis}.
 */
export async function resolveRedis(
  env: Readonly<Record<string, string | undefined>>,
  options: { dataDir: string; logger?: RedisLogger },
): Promise<ResolvedRedis> {
  const url = env.REDIS_URL?.trim() ?? '';
  if (url !== '') {
    parseRedisUrl(url, 'REDIS_URL');
    return { url };
  }
  const embedded = await startEmbeddedRedis({ dataDir: options.dataDir, env, ...(options.logger ? { logger: options.logger } : {}) });
  return { url: embedded.url, embedded };
}

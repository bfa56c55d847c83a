/**
 * The embedded Redis: a private `redis-server` this process starts when `REDIS_URL` is unset
 * (DESIGN.md §5; used by `runbook dev` and single-host installs).
 *
 * Decisions:
 * - **Unix socket, no TCP** (`--port 0`): the socket sits in `<dataDir>/redis` (mode 0700, socket
 *   0700), so only this user can reach it, there is no port to race for and nothing listens on the
 *   network. A socket path is limited to ~104 bytes (macOS; 108 on Linux), so when
 *   `<dataDir>/redis/redis.sock` is longer than {@link MAX_SOCKET_PATH_BYTES} the socket goes in
 *   a fresh private temp directory instead (removed on stop).
 * - **Durability**: `--appendonly yes --appendfsync everysec --save ""` (AOF only, at most ~1 s
 *   lost on a crash), `--maxmemory-policy noeviction` (BullMQ requirement). Restarting on the same
 *   data directory replays the AOF.
 * - **Own session** (`detached`): Ctrl-C in a terminal must not kill Redis before the app has
 *   drained its in-flight work; the app stops it last.
 * - **No orphans**: `stop()` sends SIGTERM (Redis fsyncs the AOF and exits) and waits; a
 *   process `exit` handler sends SIGTERM when the app exits without `stop()`. Neither runs when
 *   the app is SIGKILLed, so (1) a watchdog `sh` reads a pipe from this process and SIGTERMs Redis
 *   when the pipe closes, which the kernel does when we die by any means; and (2) the pidfile
 *   `<dataDir>/redis/embedded.pid` lets the next start find and stop a server both left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { createConnection, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REDIS_SETUP_ERROR_CODES, RedisSetupError } from './redis-errors.ts';
import { claimPidfile, findRedisServerBinary, releasePidfile, updatePidfile, type EmbeddedPidfile } from './redis-embedded-support.ts';
import { unixSocketUrl } from './redis-url.ts';
import type { RedisLogger } from './redis.ts';

/** A running embedded Redis. */
export interface EmbeddedRedis {
  /** `unix:///…/redis.sock`, accepted by `createRedisConnection`. */
  readonly url: string;
  readonly pid: number;
  /** `<dataDir>/redis`: AOF, log and pidfile. */
  readonly directory: string;
  readonly logFile: string;
  /** Stops the server and waits for it to exit; idempotent (later calls return the same promise). */
  stop(): Promise<void>;
}

/** Options of {@link startEmbeddedRedis}. */
export interface EmbeddedRedisOptions {
  /** `DATA_DIR`; Redis keeps its files in `<dataDir>/redis`. */
  dataDir: string;
  logger?: RedisLogger;
  /** Read for `REDIS_SERVER_BIN` and `PATH`. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** How long to wait for the first PONG (a large AOF takes a while to load). @default 20000 */
  startTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. @default 10000 */
  stopTimeoutMs?: number;
}

/** Longest socket path we use in place (macOS allows 103 bytes plus NUL). */
export const MAX_SOCKET_PATH_BYTES = 100;

const WATCHDOG_SCRIPT = 'while read -r _; do :; done; kill -TERM "$1" 2>/dev/null';
const LOG_TAIL_CHARS = 2_000;
/** Directories whose embedded Redis this process runs (a second start would fight over the AOF). */
const activeDirectories = new Set<string>();

const silentLogger: RedisLogger = { warn: () => undefined };

/**
 * Starts a private `redis-server` for `<dataDir>/redis` and resolves once it answers PING.
 *
 * @throws RedisSetupError `redis_server_missing` (install hint), `redis_embedded_in_use`,
 *   `redis_embedded_stale`, or `redis_embedded_start_failed` (with the tail of the Redis log).
 */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const logger = options.logger ?? silentLogger;
  const binary = await findRedisServerBinary(options.env ?? process.env);
  const directory = resolve(options.dataDir, 'redis');
  if (activeDirectories.has(directory)) {
    throw new RedisSetupError(REDIS_SETUP_ERROR_CODES.embeddedInUse, `This process already runs the embedded Redis of ${directory}; reuse its url.`, { retryable: false });
  }
  activeDirectories.add(directory);
  const pidfile = join(directory, 'embedded.pid');
  let claimed = false;
  let socket: SocketPlace | undefined;
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const record: EmbeddedPidfile = { ownerPid: process.pid, binary, startedAt: new Date().toISOString() };
    await claimPidfile(pidfile, record, logger);
    claimed = true;
    socket = await chooseSocketPath(directory);
    const server = await launch({ binary, directory, socket, pidfile, record, logger, options });
    logger.info?.({ pid: server.pid, directory, socket: socket.path }, 'embedded redis-server started (REDIS_URL is unset; other hosts cannot share it)');
    return server;
  } catch (error) {
    activeDirectories.delete(directory);
    if (claimed) await releasePidfile(pidfile, process.pid);
    if (socket?.temporaryDirectory) await rm(socket.temporaryDirectory, { recursive: true, force: true });
    throw error;
  }
}

interface SocketPlace {
  path: string;
  /** Set when the data directory was too deep for a socket path and a temp dir holds it. */
  temporaryDirectory?: string;
}

async function chooseSocketPath(directory: string): Promise<SocketPlace> {
  const inPlace = join(directory, 'redis.sock');
  if (Buffer.byteLength(inPlace) <= MAX_SOCKET_PATH_BYTES) return { path: inPlace };
  for (const base of [tmpdir(), '/tmp']) {
    const candidate = join(base, 'runbook-redis-XXXXXX', 'redis.sock');
    if (Buffer.byteLength(candidate) > MAX_SOCKET_PATH_BYTES) continue;
    const temporaryDirectory = await mkdtemp(join(base, 'runbook-redis-')); // created 0700
    return { path: join(temporaryDirectory, 'redis.sock'), temporaryDirectory };
  }
  throw new RedisSetupError(REDIS_SETUP_ERROR_CODES.embeddedStartFailed, `No directory short enough for a unix socket (tried ${directory}, ${tmpdir()}, /tmp).`, { retryable: false });
}

interface LaunchContext {
  binary: string;
  directory: string;
  socket: SocketPlace;
  pidfile: string;
  record: EmbeddedPidfile;
  logger: RedisLogger;
  options: EmbeddedRedisOptions;
}

async function launch(context: LaunchContext): Promise<EmbeddedRedis> {
  const { binary, directory, pidfile } = context;
  const socketPath = context.socket.path;
  const logFile = join(directory, 'redis.log');
  const logStart = await stat(logFile).then((info) => info.size, () => 0);
  const child = await spawnRedis(binary, directory, socketPath, logFile);
  const pid = child.pid;
  if (pid === undefined) throw new RedisSetupError(REDIS_SETUP_ERROR_CODES.embeddedStartFailed, `${binary} started without a pid.`, { retryable: true });
  const watchdog = startWatchdog(pid);
  let outcome: Awaited<ReturnType<typeof waitUntilAnswering>>;
  try {
    await updatePidfile(pidfile, { ...context.record, redisPid: pid, socketPath, ...(watchdog?.pid ? { watchdogPid: watchdog.pid } : {}) });
    outcome = await waitUntilAnswering(socketPath, child, context.options.startTimeoutMs ?? 20_000);
  } catch (error) {
    stopWatchdog(watchdog);
    await terminate(child, 0);
    throw error;
  }
  if (outcome !== 'ready') {
    stopWatchdog(watchdog);
    await terminate(child, 0);
    const tail = await readLogTail(logFile, logStart);
    const what = outcome === 'timeout' ? `did not answer PING within ${context.options.startTimeoutMs ?? 20_000} ms` : `exited (${describeExit(child)}) before answering PING`;
    throw new RedisSetupError(
      REDIS_SETUP_ERROR_CODES.embeddedStartFailed,
      `The embedded redis-server (${binary}) for ${directory} ${what}. Last lines of ${logFile}:\n${tail || '(empty)'}`,
      { retryable: outcome === 'timeout' },
    );
  }
  return supervise({ ...context, child, watchdog, logFile, pid });
}

async function spawnRedis(binary: string, directory: string, socketPath: string, logFile: string): Promise<ChildProcess> {
  const args = [
    '--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700', '--dir', directory,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
  ];
  // Redis logs to stdout when no logfile is set; config errors go to stderr before any logfile
  // would be open, so both streams go to one file in the data directory.
  const logFd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(binary, args, { cwd: directory, stdio: ['ignore', logFd, logFd], detached: true });
    await new Promise<void>((resolveSpawn, rejectSpawn) => {
      child.once('spawn', resolveSpawn);
      child.once('error', (error) => rejectSpawn(new RedisSetupError(REDIS_SETUP_ERROR_CODES.embeddedStartFailed, `Could not run ${binary}: ${error.message}`, { retryable: false, cause: error })));
    });
    child.unref(); // never keeps the app alive; the exit handler and watchdog stop it
    return child;
  } finally {
    closeSync(logFd);
  }
}

function startWatchdog(redisPid: number): ChildProcess | undefined {
  // The pipe's write end lives only in this process (libuv opens it close-on-exec), so it closes
  // exactly when we die, even by SIGKILL; `read` then sees EOF and the watchdog stops Redis.
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'runbook-redis-watchdog', String(redisPid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watchdog.on('error', () => undefined); // best effort: without sh, the pidfile still covers us
  watchdog.unref();
  if (watchdog.stdin instanceof Socket) {
    watchdog.stdin.on('error', () => undefined);
    watchdog.stdin.unref();
  }
  return watchdog;
}

function stopWatchdog(watchdog: ChildProcess | undefined): void {
  // SIGKILL, not EOF: a watchdog outliving Redis could otherwise signal a reused pid.
  if (watchdog === undefined || hasExited(watchdog)) return;
  watchdog.kill('SIGKILL');
  watchdog.stdin?.destroy();
}

function supervise(context: LaunchContext & { child: ChildProcess; watchdog: ChildProcess | undefined; logFile: string; pid: number }): EmbeddedRedis {
  const { child, watchdog, pidfile, directory, logger } = context;
  let stopping: Promise<void> | undefined;
  const onProcessExit = (): void => {
    // Synchronous context: signal only. The pidfile stays, so a quick restart waits for this
    // server to finish its AOF fsync instead of starting a second one on the same files.
    if (!hasExited(child)) child.kill('SIGTERM');
  };
  process.on('exit', onProcessExit);
  child.once('exit', () => {
    stopWatchdog(watchdog);
    if (stopping === undefined) {
      logger.warn({ pid: context.pid, exit: describeExit(child), log: context.logFile }, 'embedded redis-server exited unexpectedly');
    }
  });
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', onProcessExit);
      stopWatchdog(watchdog);
      child.ref(); // keep the event loop alive until Redis has exited
      await terminate(child, context.options.stopTimeoutMs ?? 10_000, logger);
      child.unref();
      await releasePidfile(pidfile, process.pid);
      const temporaryDirectory = context.socket.temporaryDirectory;
      if (temporaryDirectory !== undefined) await rm(temporaryDirectory, { recursive: true, force: true });
      activeDirectories.delete(directory);
    })();
    return stopping;
  };
  return { url: unixSocketUrl(context.socket.path), pid: context.pid, directory, logFile: context.logFile, stop };
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait for the exit. */
async function terminate(child: ChildProcess, graceMs: number, logger?: RedisLogger): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  if (graceMs > 0) {
    child.kill('SIGTERM');
    if (await settlesWithin(exited, graceMs)) return;
    logger?.warn({ pid: child.pid, graceMs }, 'embedded redis-server ignored SIGTERM; sending SIGKILL');
  }
  child.kill('SIGKILL');
  await exited;
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntilAnswering(socketPath: string, child: ChildProcess, timeoutMs: number): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited(child)) return 'exited';
    if (await pingSocket(socketPath, Math.min(1_000, deadline - Date.now()))) return 'ready';
    await new Promise((resolveSleep) => setTimeout(resolveSleep, 25));
  }
  return hasExited(child) ? 'exited' : 'timeout';
}

/** One inline `PING` over the socket; `false` on any error, on `-LOADING`, or after `timeoutMs`. */
function pingSocket(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = createConnection({ path });
    let reply = '';
    const finish = (answered: boolean): void => {
      socket.destroy();
      resolvePing(answered);
    };
    socket.setTimeout(Math.max(1, timeoutMs), () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}

async function readLogTail(logFile: string, from: number): Promise<string> {
  try {
    const handle = await open(logFile, 'r');
    try {
      const size = (await handle.stat()).size;
      const start = Math.max(from, size - LOG_TAIL_CHARS);
      const buffer = Buffer.alloc(Math.max(0, size - start));
      await handle.read(buffer, 0, buffer.length, start);
      return buffer.toString('utf8').trim();
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function describeExit(child: ChildProcess): string {
  return child.signalCode === null ? `code ${child.exitCode ?? 'unknown'}` : `signal ${child.signalCode}`;
}

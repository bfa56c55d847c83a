/**
 * Host-side helpers of the embedded Redis: finding `redis-server`, the pidfile that makes one
 * data directory belong to one live process, and clearing a server a SIGKILLed parent left behind.
 */
import { execFile } from 'node:child_process';
import { constants, existsSync, readFileSync } from 'node:fs';
import { access, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, delimiter, join, resolve } from 'node:path';
import { REDIS_SETUP_ERROR_CODES, RedisSetupError } from './redis-errors.ts';
import type { RedisLogger } from './redis.ts';

/** Where `redis-server` is looked for after `PATH` (Debian, source installs, Homebrew on Apple silicon). */
export const REDIS_SERVER_FALLBACK_PATHS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/opt/homebrew/bin/redis-server'] as const;

const INSTALL_HINT =
  'Fix it one of these ways: install Redis (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`), ' +
  'set REDIS_SERVER_BIN=/path/to/redis-server, or set REDIS_URL=redis://host:6379 to use an existing Redis instead of the embedded one.';

/**
 * Finds the `redis-server` binary: `REDIS_SERVER_BIN` if set (and then only it), else `PATH`,
 * else {@link REDIS_SERVER_FALLBACK_PATHS}.
 *
 * @throws RedisSetupError `redis_server_missing` (not retryable) with install instructions.
 */
export async function findRedisServerBinary(env: Readonly<Record<string, string | undefined>>): Promise<string> {
  const override = env.REDIS_SERVER_BIN?.trim();
  if (override) {
    const path = resolve(override);
    if (await isExecutableFile(path)) return path;
    throw new RedisSetupError(
      REDIS_SETUP_ERROR_CODES.serverMissing,
      `REDIS_SERVER_BIN=${path} is not an executable file, so the embedded Redis cannot start. ${INSTALL_HINT}`,
      { retryable: false },
    );
  }
  const fromPath = (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, 'redis-server'));
  for (const candidate of [...fromPath, ...REDIS_SERVER_FALLBACK_PATHS]) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new RedisSetupError(
    REDIS_SETUP_ERROR_CODES.serverMissing,
    `REDIS_URL is not set and no redis-server binary was found (looked in PATH and ${REDIS_SERVER_FALLBACK_PATHS.join(', ')}). ${INSTALL_HINT}`,
    { retryable: false },
  );
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The pidfile `<dataDir>/redis/embedded.pid`: who owns the directory and which processes to clean up. */
export interface EmbeddedPidfile {
  /** The Node process that started the server. */
  ownerPid: number;
  redisPid?: number;
  watchdogPid?: number;
  binary: string;
  socketPath?: string;
  startedAt: string;
}

/**
 * Makes `file` ours: creates it exclusively, first clearing a stale one (owner gone; its
 * `redis-server`, if still running and confirmed to be one, is stopped and awaited so two
 * servers never write the same AOF).
 *
 * @throws RedisSetupError `redis_embedded_in_use` when a live process owns it,
 *   `redis_embedded_stale` when a recorded pid is alive but cannot be confirmed as redis-server.
 */
export async function claimPidfile(file: string, record: EmbeddedPidfile, logger: RedisLogger): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, JSON.stringify(record), { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    await clearStalePidfile(file, logger);
  }
  throw inUse(file, undefined);
}

/** Rewrites our pidfile with the pids known after spawning. */
export async function updatePidfile(file: string, record: EmbeddedPidfile): Promise<void> {
  await writeFile(file, JSON.stringify(record), { mode: 0o600 });
}

/** Removes the pidfile if it still names `ownerPid` as owner (never someone else's). */
export async function releasePidfile(file: string, ownerPid: number): Promise<void> {
  const current = await readPidfile(file);
  if (current === undefined || current.ownerPid === ownerPid) await rm(file, { force: true });
}

async function clearStalePidfile(file: string, logger: RedisLogger): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const stale = text === undefined ? undefined : parsePidfile(text);
  if (stale !== undefined) {
    const redisAlive = stale.redisPid !== undefined && isProcessAlive(stale.redisPid);
    // Our own pid in the file means a container restart reused it: that owner is gone.
    const ownerAlive = stale.ownerPid !== process.pid && isProcessAlive(stale.ownerPid);
    if (ownerAlive && (redisAlive || stale.redisPid === undefined)) throw inUse(file, stale.ownerPid);
    if (redisAlive && stale.redisPid !== undefined) await stopStaleServer(stale.redisPid, stale, file, logger);
  }
  // Compare before removing so a pidfile another starter just wrote is left alone.
  if ((await readFile(file, 'utf8').catch(() => undefined)) === text) await rm(file, { force: true });
}

async function stopStaleServer(pid: number, stale: EmbeddedPidfile, file: string, logger: RedisLogger): Promise<void> {
  const identity = await isRedisServerProcess(pid, stale.binary);
  if (identity === false) return; // the pid was reused by an unrelated process: nothing of ours runs
  if (identity === undefined) {
    throw new RedisSetupError(
      REDIS_SETUP_ERROR_CODES.embeddedStale,
      `${file} names process ${pid} as its redis-server; it is still running but could not be confirmed to be redis-server. ` +
        `Stop it (kill ${pid}) if it is a leftover embedded Redis, or delete ${file} if it is not, then start again.`,
      { retryable: false },
    );
  }
  logger.warn({ pid, ownerPid: stale.ownerPid, pidfile: file }, 'stopping a stale embedded redis-server left by a process that is gone');
  signal(pid, 'SIGTERM');
  if (await waitForProcessExit(pid, 10_000)) return;
  signal(pid, 'SIGKILL');
  if (!(await waitForProcessExit(pid, 5_000))) {
    throw new RedisSetupError(REDIS_SETUP_ERROR_CODES.embeddedStale, `stale redis-server ${pid} (${file}) did not exit after SIGKILL.`, { retryable: true });
  }
}

function inUse(file: string, ownerPid: number | undefined): RedisSetupError {
  const owner = ownerPid === undefined ? 'another process' : `process ${ownerPid}`;
  return new RedisSetupError(
    REDIS_SETUP_ERROR_CODES.embeddedInUse,
    `The embedded Redis of this DATA_DIR is already run by ${owner} (${file}). Only one process can own an embedded Redis: ` +
      'run web and worker together with `runbook dev`, give each process its own DATA_DIR, or set REDIS_URL so processes share one Redis.',
    { retryable: false },
  );
}

async function readPidfile(file: string): Promise<EmbeddedPidfile | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parsePidfile(text);
}

function parsePidfile(text: string): EmbeddedPidfile | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const record = value as Record<string, unknown>;
    if (!isPid(record.ownerPid) || typeof record.binary !== 'string') return undefined;
    return {
      ownerPid: record.ownerPid,
      binary: record.binary,
      startedAt: typeof record.startedAt === 'string' ? record.startedAt : '',
      ...(isPid(record.redisPid) ? { redisPid: record.redisPid } : {}),
      ...(isPid(record.watchdogPid) ? { watchdogPid: record.watchdogPid } : {}),
      ...(typeof record.socketPath === 'string' ? { socketPath: record.socketPath } : {}),
    };
  } catch {
    return undefined;
  }
}

/** A pid we may signal: pid 0 and negative pids address process groups, pid 1 is init. */
function isPid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 1;
}

/**
 * Whether `pid` is a running process. A zombie (an orphan whose reaper never waits, e.g. under
 * a container init that does not reap) counts as gone although it still answers signal 0.
 */
export function isProcessAlive(pid: number): boolean {
  if (!isPid(pid)) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return isErrno(error, 'EPERM');
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no procfs (macOS): trust signal 0
  }
}

/** Polls until `pid` is gone; `true` if it exited within `timeoutMs`. */
export async function waitForProcessExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolveSleep) => setTimeout(resolveSleep, 25));
  }
  return true;
}

/** `true`/`false` when the command line of `pid` could be read, `undefined` when it could not. */
async function isRedisServerProcess(pid: number, binary: string): Promise<boolean | undefined> {
  const names = [basename(binary), 'redis-server'];
  if (existsSync('/proc/self/cmdline')) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
    return cmdline === undefined ? false : names.some((name) => cmdline.includes(name));
  }
  return new Promise((resolveIdentity) => {
    execFile('ps', ['-o', 'command=', '-p', String(pid)], (error, stdout) => {
      resolveIdentity(error ? undefined : names.some((name) => stdout.includes(name)));
    });
  });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    if (isPid(pid)) process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code;
}

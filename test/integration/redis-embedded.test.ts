import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isProcessAlive, waitForProcessExit } from '../../src/integrations/redis-embedded-support.ts';
import { startEmbeddedRedis, type EmbeddedRedis, type EmbeddedRedisOptions } from '../../src/integrations/redis-embedded.ts';
import { createRedisConnection, waitForRedis, type RedisLogger } from '../../src/integrations/redis.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EMBEDDED_MODULE = new URL('../../src/integrations/redis-embedded.ts', import.meta.url).href;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function tempDir(prefix = join(tmpdir(), 'rb-redis-')): Promise<string> {
  const dir = await mkdtemp(prefix);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Kills `pid` after the test if it is still running, so a failed assertion leaves no orphan. */
function reap(pid: number): void {
  cleanups.push(async () => {
    if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  });
}

async function start(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const redis = await startEmbeddedRedis(options);
  reap(redis.pid);
  cleanups.push(() => redis.stop());
  return redis;
}

async function withConnection<T>(url: string, use: (connection: ReturnType<typeof createRedisConnection>) => Promise<T>): Promise<T> {
  const connection = createRedisConnection(url, { role: 'command', logger: { warn: () => undefined } });
  try {
    return await use(connection);
  } finally {
    connection.disconnect();
  }
}

function recordingLogger(): RedisLogger & { messages: string[] } {
  const messages: string[] = [];
  return { messages, warn: (_fields, message) => messages.push(message), info: (_fields, message) => messages.push(message) };
}

const CHILD_SCRIPT = `
process.on('SIGUSR2', () => process.exit(0));
const { startEmbeddedRedis } = await import(process.env.EMBEDDED_MODULE);
const redis = await startEmbeddedRedis({ dataDir: process.env.EMBEDDED_DATA_DIR });
process.stdout.write(JSON.stringify({ url: redis.url, pid: redis.pid }) + '\\n');
setInterval(() => undefined, 60_000);
`;

/** Starts an embedded Redis in a separate Node process, the way `runbook dev` would. */
async function startInChildProcess(dataDir: string): Promise<{ child: ChildProcess; url: string; redisPid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, EMBEDDED_MODULE, EMBEDDED_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const started = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve(JSON.parse(stdout.split('\n')[0] ?? '') as { url: string; pid: number });
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
  });
  reap(started.pid);
  return { child, url: started.url, redisPid: started.pid };
}

async function readPidfile(dataDir: string): Promise<{ ownerPid: number; redisPid: number; watchdogPid: number }> {
  return JSON.parse(await readFile(join(dataDir, 'redis', 'embedded.pid'), 'utf8')) as { ownerPid: number; redisPid: number; watchdogPid: number };
}

describe('startEmbeddedRedis', () => {
  describe('when restarted on the same data directory', () => {
    it('still has the data written before the stop (AOF)', async () => {
      const dataDir = await tempDir();
      const first = await start({ dataDir });
      await withConnection(first.url, (connection) => connection.set('runbook:answer', '42'));
      await first.stop();
      expect(isProcessAlive(first.pid)).toBe(false);

      const second = await start({ dataDir });
      expect(second.url).toBe(first.url);
      expect(await withConnection(second.url, (connection) => connection.get('runbook:answer'))).toBe('42');
      expect(existsSync(join(dataDir, 'redis', 'appendonlydir'))).toBe(true);
    });
  });

  describe('when stopped twice', () => {
    it('stops once, removes the pidfile and socket, and resolves both calls', async () => {
      const dataDir = await tempDir();
      const redis = await start({ dataDir });
      const socketPath = decodeURIComponent(new URL(redis.url).pathname);
      expect(existsSync(socketPath)).toBe(true);

      await Promise.all([redis.stop(), redis.stop()]);
      await redis.stop();
      expect(isProcessAlive(redis.pid)).toBe(false);
      expect(existsSync(join(dataDir, 'redis', 'embedded.pid'))).toBe(false);
      expect(existsSync(socketPath)).toBe(false);
    });
  });

  describe('when the data directory is already served', () => {
    it('refuses a second start from this process', async () => {
      const dataDir = await tempDir();
      await start({ dataDir });
      await expect(startEmbeddedRedis({ dataDir })).rejects.toMatchObject({ code: 'redis_embedded_in_use', retryable: false });
    });

    it('refuses a start while another live process owns it', async () => {
      const dataDir = await tempDir();
      const { child } = await startInChildProcess(dataDir);
      await expect(startEmbeddedRedis({ dataDir })).rejects.toMatchObject({
        code: 'redis_embedded_in_use',
        message: expect.stringContaining(`process ${child.pid}`),
      });
    });
  });

  describe('when the process that started it exits without calling stop()', () => {
    it('stops the server from its exit handler', async () => {
      const dataDir = await tempDir();
      const { child, redisPid } = await startInChildProcess(dataDir);
      const { watchdogPid } = await readPidfile(dataDir);
      process.kill(watchdogPid, 'SIGKILL'); // leave the exit handler as the only mechanism
      expect(await waitForProcessExit(watchdogPid, 2_000)).toBe(true);

      child.kill('SIGUSR2'); // the child calls process.exit(0)
      expect(await waitForProcessExit(redisPid, 5_000)).toBe(true);
      await expect(start({ dataDir })).resolves.toMatchObject({ url: expect.stringMatching(/^unix:\/\//) });
    });
  });

  describe('when the process that started it was SIGKILLed', () => {
    it('has the watchdog stop the orphan, and the next start sees the data', async () => {
      const dataDir = await tempDir();
      const { child, url, redisPid } = await startInChildProcess(dataDir);
      await withConnection(url, (connection) => connection.set('left:behind', 'yes'));

      child.kill('SIGKILL');
      expect(await waitForProcessExit(redisPid, 5_000)).toBe(true);

      const next = await start({ dataDir });
      expect(await withConnection(next.url, (connection) => connection.get('left:behind'))).toBe('yes');
    });

    it('stops a server whose watchdog died too, found through the pidfile', async () => {
      const dataDir = await tempDir();
      const { child, url, redisPid } = await startInChildProcess(dataDir);
      await withConnection(url, (connection) => connection.set('left:behind', 'still'));
      const pidfile = await readPidfile(dataDir);
      expect(pidfile).toMatchObject({ ownerPid: child.pid, redisPid });

      process.kill(pidfile.watchdogPid, 'SIGKILL');
      expect(await waitForProcessExit(pidfile.watchdogPid, 2_000)).toBe(true);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(isProcessAlive(redisPid)).toBe(true); // the orphan a SIGKILL leaves without a watchdog

      const logger = recordingLogger();
      const next = await start({ dataDir, logger });
      expect(isProcessAlive(redisPid)).toBe(false);
      expect(logger.messages).toContain('stopping a stale embedded redis-server left by a process that is gone');
      expect(await withConnection(next.url, (connection) => connection.get('left:behind'))).toBe('still');
    });
  });

  describe('when no redis-server binary exists', () => {
    it('throws a coded error that says how to fix it', async () => {
      const attempt = startEmbeddedRedis({ dataDir: await tempDir(), env: { REDIS_SERVER_BIN: '/nonexistent', PATH: '' } });
      await expect(attempt).rejects.toMatchObject({ code: 'redis_server_missing', retryable: false });
      await expect(attempt).rejects.toThrow(/apt-get install redis-server.*brew install redis.*REDIS_URL=redis:\/\/host:6379/);
    });
  });

  describe('when the server exits before answering', () => {
    it('reports the tail of its log and leaves the directory usable', async () => {
      const dataDir = await tempDir();
      // `echo` prints the arguments it was given to the log and exits: a server that never answers.
      const attempt = startEmbeddedRedis({ dataDir, env: { REDIS_SERVER_BIN: '/bin/echo' } });
      await expect(attempt).rejects.toMatchObject({ code: 'redis_embedded_start_failed', retryable: false });
      await expect(attempt).rejects.toThrow(/exited \(code 0\) before answering PING[\s\S]*--appendonly yes --appendfsync everysec/);

      const redis = await start({ dataDir });
      expect(await withConnection(redis.url, (connection) => connection.ping())).toBe('PONG');
    });
  });

  describe('when the data directory is too deep for a unix socket path', () => {
    it('puts the socket in a private temp directory and removes it on stop', async () => {
      const dataDir = join(await tempDir(), 'x'.repeat(60), 'y'.repeat(60));
      const redis = await start({ dataDir });
      const socketPath = decodeURIComponent(new URL(redis.url).pathname);
      expect(socketPath.startsWith(dataDir)).toBe(false);
      expect(await withConnection(redis.url, (connection) => connection.ping())).toBe('PONG');

      await redis.stop();
      expect(existsSync(join(socketPath, '..'))).toBe(false);
      expect(existsSync(join(dataDir, 'redis', 'appendonlydir'))).toBe(true);
    });
  });

  describe('when it restarts under a live worker connection', () => {
    it('lets the connection reconnect and logs the recovery', async () => {
      const dataDir = await tempDir();
      const first = await start({ dataDir });
      const logger = recordingLogger();
      const connection = createRedisConnection(first.url, { role: 'worker', logger });
      cleanups.push(async () => connection.disconnect());
      expect(await waitForRedis(connection, 5_000)).toBe(true);

      await first.stop();
      await expect.poll(() => connection.status, { timeout: 5_000 }).not.toBe('ready');
      await start({ dataDir });
      expect(await waitForRedis(connection, 10_000)).toBe(true);
      // Redis closed the link cleanly, so ioredis reports no error: the loss is still logged.
      expect(logger.messages[0]).toBe('redis connection lost; reconnecting');
      expect(logger.messages.at(-1)).toBe('redis connection restored');
    });
  });
});

/**
 * Real processes for integration tests: `runbook worker` and `runbook web` processes
 * (`bin/runbook.mjs worker|web`) and private `redis-server`s. Every process started here is tracked: call `stopAllProcesses()` in
 * afterEach/afterAll, and a process `exit` hook SIGKILLs whatever is left if the test runner itself
 * goes away first, so no test leaves an orphan behind. Everything listens on and talks to
 * 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNBOOK_BIN = fileURLToPath(new URL('../../bin/runbook.mjs', import.meta.url));
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** Output kept per process (the tail), for failure messages and log checks (scale tests log a line per run). */
const MAX_OUTPUT_CHARS = 2_000_000;

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** `Date.now()` when this process saw the child exit. */
  readonly atMs: number;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves once the process has exited, however it ended. */
  readonly exited: Promise<ExitStatus>;
  /** Whether the process is still running. */
  isRunning(): boolean;
  /** What it wrote to stdout and stderr so far (the last 2 MB). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves on exit. Safe to call on an exited process. */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** Resolves on exit; rejects (with the process's output) when it is still running after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<ExitStatus>;
  /** Sends `signal` (a crash: `SIGKILL`) and resolves on exit. */
  kill(signal: NodeJS.Signals): Promise<ExitStatus>;
}

/** One JSON log line of a worker (see `src/cli/logger.ts`). */
export interface WorkerLogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface WorkerProcess extends ManagedProcess {
  /** The JSON log lines written so far. */
  logs(): WorkerLogLine[];
}

/** The environment of a worker process (`src/cli/config.ts`). */
export interface WorkerEnv {
  readonly REDIS_URL: string;
  readonly RUNBOOK_REDIS_PREFIX: string;
  /** Must be the test's data directory: worker and test then share `DATA_DIR/audit.sqlite3`. */
  readonly DATA_DIR: string;
  readonly RUNBOOK_TEST_EXECUTORS?: '1';
  readonly WORKER_CONCURRENCY?: string;
  readonly RUNBOOK_FAULT_POINT?: 'before-executor' | 'during-executor' | 'after-executor';
  readonly RUNBOOK_FAULT_STEP?: string;
  /** The PostgreSQL audit store shared by every process (else SQLite in `DATA_DIR`). */
  readonly DATABASE_URL?: string;
  readonly AUDIT_DATABASE_SCHEMA?: string;
  /** A path of the test's own: a missing file means the built-in policy, whatever `./policy.yaml` holds. */
  readonly POLICY_FILE?: string;
}

/** The environment of a web process (`src/cli/commands/web.ts`): a worker's plus the Slack app's. */
export interface WebEnv extends Omit<WorkerEnv, 'RUNBOOK_FAULT_POINT' | 'RUNBOOK_FAULT_STEP' | 'WORKER_CONCURRENCY'> {
  readonly RUNBOOKS_DIR: string;
  readonly SLACK_BOT_TOKEN: string;
  readonly SLACK_SIGNING_SECRET: string;
  /** The Slack stand-in's Web API (`startSlackStandIn().url`). */
  readonly SLACK_API_URL: string;
  /** A free port (see {@link freePort}). */
  readonly PORT: string;
}

export interface WebProcess extends WorkerProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Where Slack sends slash commands and clicks: `<url>/slack/events`. */
  readonly slackEventsUrl: string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the runner exits without the test's cleanup having run.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function manage(name: string, child: ChildProcess): ManagedProcess {
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  installExitHook();
  running.add(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let hasExited = false;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      running.delete(child);
      resolve({ code, signal, atMs: Date.now() });
    });
  });
  let stopping: Promise<ExitStatus> | undefined;
  return {
    name,
    pid: child.pid,
    exited,
    isRunning: () => !hasExited,
    output: () => output,
    waitForExit: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} was still running after ${timeoutMs} ms:\n${output}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    kill: (signal) => {
      if (!hasExited) child.kill(signal);
      return exited;
    },
    stop: (graceMs = 10_000) =>
      (stopping ??= (async () => {
        if (hasExited) return exited;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}

/** Resolves when `output()` matches `pattern`; rejects when the process exits first or time runs out. */
async function waitForOutput(proc: ManagedProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let isGone = false;
  void proc.exited.then(() => {
    isGone = true;
  });
  while (!pattern.test(proc.output())) {
    if (isGone) throw new Error(`${proc.name} exited before printing ${pattern}:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name} did not print ${pattern} within ${timeoutMs} ms:\n${proc.output()}`);
    await sleep(20);
  }
}

function assertLoopback(url: string): void {
  const { hostname } = new URL(url);
  if (!LOOPBACK_HOSTS.has(hostname)) throw new Error(`test processes only talk to 127.0.0.1; got host ${hostname} in ${new URL(url).protocol} URL`);
}

/**
 * Spawns `node bin/runbook.mjs worker` with exactly `env` (plus PATH and HOME) and resolves once it
 * has logged `worker ready`, i.e. its step, timer and notify workers and its reconciler are running.
 */
export async function startWorkerProcess(env: WorkerEnv, options: { name?: string; readyTimeoutMs?: number } = {}): Promise<WorkerProcess> {
  assertLoopback(env.REDIS_URL);
  if (env.DATABASE_URL) assertLoopback(env.DATABASE_URL);
  const name = options.name ?? `worker(${env.RUNBOOK_FAULT_POINT ?? 'no fault'})`;
  const child = spawn(process.execPath, [RUNBOOK_BIN, 'worker'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = manage(name, child);
  const worker: WorkerProcess = { ...proc, logs: () => parseLogLines(proc.output()) };
  try {
    await waitForOutput(proc, /"msg":"worker ready"/, options.readyTimeoutMs ?? 20_000);
  } catch (error) {
    await proc.stop(1_000);
    throw error;
  }
  return worker;
}

/**
 * Spawns `node bin/runbook.mjs web` with exactly `env` (plus PATH and HOME, and HOST 127.0.0.1) and
 * resolves once it has logged `web ready`, i.e. Bolt listens on `env.PORT` and the runbooks are
 * loaded. The Slack Web API at `env.SLACK_API_URL` must accept the token (Bolt calls `auth.test`).
 */
export async function startWebProcess(env: WebEnv, options: { name?: string; readyTimeoutMs?: number } = {}): Promise<WebProcess> {
  assertLoopback(env.REDIS_URL);
  assertLoopback(env.SLACK_API_URL);
  if (env.DATABASE_URL) assertLoopback(env.DATABASE_URL);
  const name = options.name ?? `web(:${env.PORT})`;
  const child = spawn(process.execPath, [RUNBOOK_BIN, 'web'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = manage(name, child);
  try {
    await waitForOutput(proc, /"msg":"web ready"/, options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    await proc.stop(1_000);
    throw error;
  }
  const url = `http://127.0.0.1:${env.PORT}`;
  return { ...proc, logs: () => parseLogLines(proc.output()), port: Number(env.PORT), url, slackEventsUrl: `${url}/slack/events` };
}

function parseLogLines(text: string): WorkerLogLine[] {
  const lines: WorkerLogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as unknown;
      if (parsed && typeof parsed === 'object' && 'msg' in parsed) lines.push(parsed as WorkerLogLine);
    } catch {
      // A line cut by the output cap or interleaved with a non-JSON write.
    }
  }
  return lines;
}

export interface RedisServerProcess extends ManagedProcess {
  readonly port: number;
  readonly url: string;
  /** Its data directory (the AOF lives in `<dir>/appendonlydir`). */
  readonly dir: string;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

/**
 * Starts a private `redis-server` on 127.0.0.1:`port` with every write fsynced to the AOF
 * (`--appendonly yes --appendfsync always`, no RDB snapshots), so stopping it and starting it
 * again on the same `dir` loses nothing. Resolves once it accepts connections.
 */
export async function startRedisServer(options: { port: number; dir: string; startTimeoutMs?: number }): Promise<RedisServerProcess> {
  const { port, dir } = options;
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--daemonize', 'no',
    '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
    '--maxmemory-policy', 'noeviction', '--logfile', '',
  ];
  const child = spawn(process.env['REDIS_SERVER_BIN'] ?? 'redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = manage(`redis-server:${port}`, child);
  try {
    await waitForOutput(proc, /Ready to accept connections/, options.startTimeoutMs ?? 10_000);
  } catch (error) {
    await proc.stop(1_000);
    throw error;
  }
  return { ...proc, port, dir, url: `redis://127.0.0.1:${port}` };
}

/** Stops every process these helpers started and still run (SIGTERM, then SIGKILL). */
export async function stopAllProcesses(graceMs = 10_000): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

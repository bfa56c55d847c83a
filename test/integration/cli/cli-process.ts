/**
 * Drives the real `runbook` command in child processes, against the test Redis with a fresh key
 * prefix, a temp DATA_DIR and a temp RUNBOOKS_DIR holding the `cli-*.md` fixtures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../../helpers/engine.ts';
import { FIXTURES } from '../../helpers/runbooks.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'runbook.mjs');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves with the first match of `pattern` in stdout; rejects after `timeoutMs` or when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly done: Promise<CliResult>;
}

/** One isolated place to run the CLI: its own Redis key prefix, DATA_DIR and RUNBOOKS_DIR. */
export interface CliSandbox {
  readonly prefix: string;
  readonly env: NodeJS.ProcessEnv;
  start(args: readonly string[], extraEnv?: NodeJS.ProcessEnv): CliProcess;
  run(args: readonly string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
  cleanup(): Promise<void>;
}

/** `embedded`: no REDIS_URL, so the CLI starts a private redis-server in DATA_DIR. */
export function createCliSandbox(options: { embedded?: boolean } = {}): CliSandbox {
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'runbook-cli-'));
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  for (const name of readdirSync(FIXTURES).filter((f) => f.startsWith('cli-'))) copyFileSync(join(FIXTURES, name), join(runbooks, name));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: options.embedded ? '' : REDIS_URL,
    RUNBOOK_REDIS_PREFIX: prefix,
    DATA_DIR: join(dir, 'var'),
    RUNBOOKS_DIR: runbooks,
    RUNBOOK_TEST_EXECUTORS: '1',
    LOG_LEVEL: '',
  };
  const processes = new Set<CliProcess>();
  const start = (args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const started = startCli(args, { ...env, ...extraEnv }, ROOT);
    processes.add(started);
    return started;
  };
  return {
    prefix,
    env,
    start,
    run: (args, extraEnv) => start(args, extraEnv).done,
    async cleanup() {
      // A failed test may leave a `run` waiting for an approval that never comes.
      // Killed and awaited before the keys go, so nothing writes them back.
      for (const { child } of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all([...processes].map((p) => p.done));
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startCli(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = stdout.match(pattern);
        if (!match) return;
        finish();
        resolve(match);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${pattern} in ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      void done.then((result) => {
        if (!listeners.has(check)) return;
        finish();
        reject(new Error(`exited (${result.code ?? result.signal}) before ${pattern}; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`));
      });
      check();
    });
  return { child, waitFor, done };
}

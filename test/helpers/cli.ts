/**
 * The real `runbook` command (`node bin/runbook.mjs`) in child processes, in one isolated place:
 * a fresh Redis key prefix and a temp folder (for DATA_DIR and whatever else the caller puts
 * there). `cleanup()` kills what is still running, deletes the prefix's keys and the folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { REDIS_URL } from './engine.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'runbook.mjs');

/** How a CLI process ended, and everything it printed. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running CLI process. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves with the first match of `pattern` in stdout; rejects after `timeoutMs` or when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly done: Promise<CliResult>;
}

/** One isolated place to run the CLI. */
export interface CliWorkspace<Env extends NodeJS.ProcessEnv = NodeJS.ProcessEnv> {
  readonly prefix: string;
  /** The temp folder the environment points into. */
  readonly dir: string;
  readonly env: Env;
  start(args: readonly string[], extraEnv?: NodeJS.ProcessEnv): CliProcess;
  run(args: readonly string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
  cleanup(): Promise<void>;
}

export interface CliWorkspaceOptions<Env extends NodeJS.ProcessEnv> {
  /** The processes' whole environment, built from the workspace's prefix and folder. */
  readonly env: (workspace: { readonly prefix: string; readonly dir: string }) => Env;
  /** Starts the key prefix. @default 'test' */
  readonly prefixLabel?: string;
  /** Names the temp folder (`runbook-<label>-…`). @default 'test' */
  readonly dirLabel?: string;
  /** `waitFor`'s default deadline. @default 30000 */
  readonly waitForTimeoutMs?: number;
}

export function createCliWorkspace<Env extends NodeJS.ProcessEnv>(options: CliWorkspaceOptions<Env>): CliWorkspace<Env> {
  const prefix = `${options.prefixLabel ?? 'test'}-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), `runbook-${options.dirLabel ?? 'test'}-`));
  const env = options.env({ prefix, dir });
  const processes = new Set<CliProcess>();
  const start = (args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const started = startCli(args, { ...env, ...extraEnv }, options.waitForTimeoutMs ?? 30_000);
    processes.add(started);
    return started;
  };
  return {
    prefix,
    dir,
    env,
    start,
    run: (args, extraEnv) => start(args, extraEnv).done,
    async cleanup() {
      // A failed test may leave a `run` waiting for an approval nobody gives.
      // Killed and awaited before the keys go, so nothing writes them back.
      for (const { child } of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all([...processes].map((p) => p.done));
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
      try {
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        await redis.quit();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startCli(args: readonly string[], env: NodeJS.ProcessEnv, defaultTimeoutMs: number): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  const waitFor = (pattern: RegExp, timeoutMs = defaultTimeoutMs) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
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

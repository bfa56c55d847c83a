/**
 * The `run` executor: a program and its argument list, never a shell. Each element of `argv` is one
 * argument exactly as written (`; rm -rf /`, `$(id)` and newlines reach the program literally).
 *
 * - Environment: the worker's environment holds credentials (Slack, PagerDuty, AWS), so a program
 *   sees only a small safe base (`PATH`, `HOME`, `LANG`, `LC_ALL`, `TZ`, `TMPDIR`, when set), the
 *   step's `env` over it, then `RUNBOOK_IDEMPOTENCY_KEY` (the same on every redelivery of the attempt,
 *   so a script can dedupe), `RUNBOOK_RUN_ID`, `RUNBOOK_STEP_ID` and `RUNBOOK_ATTEMPT`, which a step
 *   cannot override.
 * - The program runs in its own process group with stdin closed. On abort (cancel or step timeout)
 *   the whole group gets SIGTERM, then SIGKILL after a grace period, and the call ends only once the
 *   group is gone. A program that finishes normally keeps any background children it started.
 * - Output: `{ exit_code, stdout, stderr, truncated }`; each stream keeps its last 64 KiB (cut
 *   text starts with a `…[truncated N bytes]` line and `truncated` is true). When the whole stdout
 *   is a JSON object or array it is also parsed into `json`, so runbooks can read
 *   `steps.<id>.output.json.<field>`; otherwise `json` is absent.
 * - Errors: `run_exit_nonzero` (exit code and stderr's tail in the message; not retryable unless the
 *   code is in `retryableExitCodes`), `run_command_not_found`, `run_command_not_executable`,
 *   `run_cwd_not_found`, `run_spawn_failed` (retryable: out of processes or file descriptors),
 *   `executor_input_invalid`; an abort rejects with an AbortError (`executor_aborted`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { ExecutorError, type Executor, type ExecutorContext } from './contract.ts';
import { DEFAULT_RUN_STREAM_LIMIT_BYTES, ERROR_EXCERPT_CHARS, TailBuffer, describeMapForPlan, describeValueForPlan, redactJson, tailOf } from './limits.ts';
import { BUILTIN_EXECUTOR_SPECS, runArgs } from './specs.ts';

/** Variables of the worker's environment a program sees: enough to find programs and speak UTF-8, no credentials. */
export const SAFE_ENV_KEYS = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

export interface RunExecutorOptions {
  /** Names of the worker's variables passed on to programs. @default SAFE_ENV_KEYS */
  readonly inheritEnv?: readonly string[];
  /** The environment those names are read from. @default process.env */
  readonly parentEnv?: Readonly<Record<string, string | undefined>>;
  /** Time between SIGTERM and SIGKILL to the process group on abort. @default 5000 */
  readonly killGraceMs?: number;
  /** Bytes kept of each of stdout and stderr (the tail). @default 65536 */
  readonly maxStreamBytes?: number;
  /** Exit codes after which a retry may help (75 is sysexits' EX_TEMPFAIL). @default [] */
  readonly retryableExitCodes?: readonly number[];
  /** After the program exits, how long its pipes may stay open (held by a background child). @default 2000 */
  readonly stdioDrainMs?: number;
}

interface RunCall {
  readonly argv: readonly [string, ...string[]];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
}

interface Settings {
  readonly inheritEnv: readonly string[];
  readonly parentEnv: Readonly<Record<string, string | undefined>>;
  readonly killGraceMs: number;
  readonly maxStreamBytes: number;
  readonly retryableExitCodes: readonly number[];
  readonly stdioDrainMs: number;
}

interface Finished {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: TailBuffer;
  readonly stderr: TailBuffer;
}

/** Creates the `run` executor (see the module comment for the environment, output and errors). */
export function createRunExecutor(options: RunExecutorOptions = {}): Executor {
  const settings: Settings = {
    inheritEnv: options.inheritEnv ?? SAFE_ENV_KEYS,
    parentEnv: options.parentEnv ?? process.env,
    killGraceMs: options.killGraceMs ?? 5_000,
    maxStreamBytes: options.maxStreamBytes ?? DEFAULT_RUN_STREAM_LIMIT_BYTES,
    retryableExitCodes: options.retryableExitCodes ?? [],
    stdioDrainMs: options.stdioDrainMs ?? 2_000,
  };
  const spec = BUILTIN_EXECUTOR_SPECS.find((candidate) => candidate.name === 'run');
  if (!spec) throw new Error('no built-in executor spec named run');
  return {
    spec,
    run: async (input, ctx) => runProgram(parseCall(input, ctx), settings, ctx),
    plan: (input) => planRun(input, settings),
  };
}

async function runProgram(call: RunCall, settings: Settings, ctx: ExecutorContext): Promise<unknown> {
  if (ctx.signal.aborted) throw abortError(call, ctx);
  if (call.cwd !== undefined) await checkCwd(call.cwd, ctx);
  ctx.logger.info({ argv: ctx.redact(JSON.stringify(call.argv)), cwd: call.cwd === undefined ? null : ctx.redact(call.cwd) }, 'run: starting program');
  const finished = await spawnAndWait(call, settings, ctx);
  const stdout = finished.stdout.text();
  const stderr = finished.stderr.text();
  if (finished.exitCode !== 0) throw exitFailure(call, finished, ctx.redact(stderr || stdout), settings, ctx);
  const json = finished.stdout.truncated ? undefined : parseJsonDocument(stdout);
  return {
    exit_code: 0,
    stdout: ctx.redact(stdout),
    stderr: ctx.redact(stderr),
    truncated: finished.stdout.truncated || finished.stderr.truncated,
    ...(json === undefined ? {} : { json: redactJson(json.value, ctx.redact) }),
  };
}

function spawnAndWait(call: RunCall, settings: Settings, ctx: ExecutorContext): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const stdout = new TailBuffer(settings.maxStreamBytes);
    const stderr = new TailBuffer(settings.maxStreamBytes);
    let child: ChildProcess;
    try {
      child = spawn(call.argv[0], call.argv.slice(1), {
        shell: false, // never: every argv element reaches the program as written
        detached: true, // its own process group, so an abort reaches its children too
        cwd: call.cwd,
        env: childEnv(call, settings, ctx),
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (error) {
      // Synchronous refusals are bad arguments (a NUL byte in an argument or variable).
      reject(new ExecutorError('executor_input_invalid', ctx.redact(`run: cannot start ${JSON.stringify(call.argv[0])}: ${String(error)}`), { retryable: false, cause: error }));
      return;
    }
    let settled = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (outcome: { ok: Finished } | { error: Error }) => {
      if (settled) return;
      settled = true;
      clearTimeout(drainTimer);
      ctx.signal.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      if ('ok' in outcome) resolve(outcome.ok);
      else reject(outcome.error);
    };
    const onAbort = () => {
      const pid = child.pid;
      const done = () => finish({ error: abortError(call, ctx) });
      if (pid === undefined) return done();
      ctx.logger.warn({ pid }, 'run: aborted, stopping the process group');
      void terminateGroup(pid, settings.killGraceMs).then(done, done);
    };
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) finish({ error: spawnFailure(call, error, ctx) });
      else ctx.logger.warn({ err: ctx.redact(error.message) }, 'run: child process error');
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      if (ctx.signal.aborted) return;
      // A background child may hold the pipes open long after the program is done: stop waiting.
      drainTimer = setTimeout(() => finish({ ok: { exitCode: code, signal, stdout, stderr } }), settings.stdioDrainMs);
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (ctx.signal.aborted) return;
      finish({ ok: { exitCode: exited?.code ?? code, signal: exited?.signal ?? signal, stdout, stderr } });
    });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();
  });
}

/** SIGTERM to the group, SIGKILL after `graceMs` if anyone is left; resolves once the group is gone (or after a last second). */
async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  if (await waitForGroupExit(pgid, graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  await waitForGroupExit(pgid, 1_000);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

async function waitForGroupExit(pgid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (!(await hasLiveMembers(pgid))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Whether any process of the group still runs. `kill(-pgid, 0)` also counts zombies, and an orphaned
 * grandchild stays one for as long as PID 1 fails to reap it (a container whose PID 1 is not an
 * init), so on Linux the group's members are looked up in /proc and zombies are ignored.
 */
async function hasLiveMembers(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  const entries = await readdir('/proc').catch(() => undefined);
  if (!entries) return true;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses, so split after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (pgrp === String(pgid) && state !== 'Z') return true;
  }
  return false;
}

function childEnv(call: RunCall, settings: Settings, ctx: ExecutorContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of settings.inheritEnv) {
    const value = settings.parentEnv[key];
    if (value !== undefined) env[key] = value;
  }
  Object.assign(env, call.env);
  env['RUNBOOK_IDEMPOTENCY_KEY'] = ctx.idempotencyKey;
  env['RUNBOOK_RUN_ID'] = ctx.runId;
  env['RUNBOOK_STEP_ID'] = ctx.stepId;
  env['RUNBOOK_ATTEMPT'] = String(ctx.attempt);
  return env;
}

async function checkCwd(cwd: string, ctx: ExecutorContext): Promise<void> {
  const info = await stat(cwd).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new ExecutorError('run_cwd_not_found', ctx.redact(`run: cwd ${JSON.stringify(cwd)} is not a directory on this worker`), { retryable: false });
  }
}

function spawnFailure(call: RunCall, error: NodeJS.ErrnoException, ctx: ExecutorContext): ExecutorError {
  const program = ctx.redact(JSON.stringify(call.argv[0]));
  if (error.code === 'ENOENT') {
    return new ExecutorError('run_command_not_found', `run: program ${program} not found (searched PATH of the step's environment)`, { retryable: false, cause: error });
  }
  if (error.code === 'EACCES' || error.code === 'EISDIR' || error.code === 'ENOEXEC') {
    return new ExecutorError('run_command_not_executable', `run: program ${program} is not executable (${error.code})`, { retryable: false, cause: error });
  }
  return new ExecutorError('run_spawn_failed', `run: could not start ${program}: ${ctx.redact(error.message)}`, { retryable: true, cause: error });
}

function exitFailure(call: RunCall, finished: Finished, output: string, settings: Settings, ctx: ExecutorContext): ExecutorError {
  const program = ctx.redact(JSON.stringify(call.argv[0]));
  const how = finished.exitCode === null ? `was killed by ${finished.signal ?? 'a signal'}` : `exited with code ${finished.exitCode}`;
  const excerpt = output.trim() === '' ? ' (no output)' : `; output ends with:\n${tailOf(output.trimEnd(), ERROR_EXCERPT_CHARS)}`;
  const retryable = finished.exitCode !== null && settings.retryableExitCodes.includes(finished.exitCode);
  return new ExecutorError('run_exit_nonzero', `run: ${program} ${how}${excerpt}`, { retryable });
}

function abortError(call: RunCall, ctx: ExecutorContext): Error {
  const error = new Error(`run: ${ctx.redact(JSON.stringify(call.argv[0]))} was stopped: the call was aborted`);
  error.name = 'AbortError';
  return error;
}

/** The whole of `text` as a JSON object or array, or undefined. */
function parseJsonDocument(text: string): { value: unknown } | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return undefined;
  try {
    return { value: JSON.parse(trimmed) as unknown };
  } catch {
    return undefined;
  }
}

function parseCall(input: unknown, ctx: ExecutorContext): RunCall {
  const parsed = runArgs.safeParse(input);
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'arguments'}: ${issue.message}`);
  const env = parsed.success ? parsed.data.env : undefined;
  if (typeof env === 'string') problems.push(`env: expected a mapping, found ${JSON.stringify(env)}`);
  const argv = parsed.success ? parsed.data.argv : [];
  const [program, ...rest] = argv;
  if (parsed.success && (program === undefined || program === '')) problems.push('argv: expected the program first, found an empty string');
  if (problems.length > 0 || program === undefined || typeof env === 'string') {
    throw new ExecutorError('executor_input_invalid', ctx.redact(`run: invalid arguments: ${problems.join('; ')}`), { retryable: false });
  }
  return { argv: [program, ...rest], env: env ?? {}, cwd: parsed.success ? parsed.data.cwd : undefined };
}

/**
 * What `runbook plan` and `--dry-run` show: argv as a JSON array (never a shell string), the cwd,
 * and the environment, with the values of secret-looking variables hidden. Lenient: arguments may
 * still hold markers for values known only at run time.
 */
function planRun(input: unknown, settings: Settings): string[] {
  const args = typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
  const lines = [`run ${describeValueForPlan(args['argv'] ?? [])} (no shell)`];
  if (args['cwd'] !== undefined) lines.push(`cwd: ${describeValueForPlan(args['cwd'])}`);
  const env = args['env'];
  if (typeof env === 'object' && env !== null && !Array.isArray(env) && Object.keys(env).length > 0) {
    lines.push(`env: ${describeMapForPlan(env as Record<string, unknown>, '=')}`);
  }
  lines.push(`inherits only ${settings.inheritEnv.join(', ')} from the worker; RUNBOOK_IDEMPOTENCY_KEY set to the attempt's key`);
  return lines;
}

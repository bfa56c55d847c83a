/**
 * The `ssm` executor: an SSM Run Command (`SendCommand`) on tagged targets or listed instances,
 * polled until every target is terminal, judged against `max_errors`.
 *
 * Idempotency (DESIGN.md §2): SendCommand has no idempotency token, so the command's `Comment`
 * carries a marker derived from the idempotency key, `runbook:<first 32 hex of sha256(key)>`
 * (40 characters; SSM allows 100, the rest holds the step's own `comment`). Every call first lists
 * recent commands of the same document and adopts the one bearing its marker; only when there is
 * none does it send. A lost reply is handled the same way, so a command is sent once per key.
 *
 * Environment (`env`): values never enter the command text. See {@link encodeEnvPrelude}.
 */
import { createHash } from 'node:crypto';
import {
  CancelCommandCommand, GetCommandInvocationCommand, ListCommandInvocationsCommand, ListCommandsCommand,
  type Command, type CommandInvocation, type SSMClient, type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { classifySsmError, createSsmClient, describeSsmError, retryIdempotent, sendCommandOnce } from '../integrations/ssm.ts';
import { ExecutorError, sleep as abortableSleep, type Executor, type ExecutorContext } from './contract.ts';
import { executorCatalog, ssmArgs } from './specs.ts';
import type { ExecutorSpec } from '../machines/executor-spec.ts';

/** Options of {@link createSsmExecutor} and `createSsmAutomationExecutor`. */
export interface SsmExecutorOptions {
  /** @default `createSsmClient()`: region, endpoint and credentials from the AWS SDK's own settings */
  readonly client?: SSMClient;
  /** First wait between status polls; grows by half each poll. @default 2000 */
  readonly pollIntervalMs?: number;
  /** @default 20000 */
  readonly maxPollIntervalMs?: number;
  /** Injected for tests. @default the abortable sleep of the executor contract */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** @default Date.now */
  readonly now?: () => number;
  /** `TimeoutSeconds` of SendCommand: how long SSM may wait to deliver to a target. @default 600 */
  readonly deliveryTimeoutSeconds?: number;
  /** Characters kept of each target's stdout and stderr (the tail, after redaction). @default 4000 */
  readonly maxOutputChars?: number;
  /** Targets whose full stdout/stderr is fetched (failures first); the rest report SSM's 2,500-char summary. @default 50 */
  readonly outputTargetLimit?: number;
  /** How far back the reconcile looks for an earlier attempt's command. @default 86400000 (24 h) */
  readonly reconcileWindowMs?: number;
  /** Cancel the command (or stop the automation) when `ctx.signal` aborts. @default true */
  readonly cancelOnAbort?: boolean;
}

/** {@link SsmExecutorOptions} with defaults applied. */
export type SsmSettings = Required<SsmExecutorOptions>;

/** Applies defaults once (STYLE.md 5). */
export function compileSsmOptions(options: SsmExecutorOptions = {}): SsmSettings {
  return {
    client: options.client ?? createSsmClient(),
    pollIntervalMs: options.pollIntervalMs ?? 2_000,
    maxPollIntervalMs: options.maxPollIntervalMs ?? 20_000,
    sleep: options.sleep ?? abortableSleep,
    now: options.now ?? Date.now,
    deliveryTimeoutSeconds: options.deliveryTimeoutSeconds ?? 600,
    maxOutputChars: options.maxOutputChars ?? 4_000,
    outputTargetLimit: options.outputTargetLimit ?? 50,
    reconcileWindowMs: options.reconcileWindowMs ?? 86_400_000,
    cancelOnAbort: options.cancelOnAbort ?? true,
  };
}

/** The built-in spec named `name` (the executors reuse the argument schemas of `specs.ts`). */
export function builtinSpec(name: string): ExecutorSpec {
  const spec = executorCatalog.get(name);
  if (!spec) throw new Error(`no built-in executor spec \`${name}\``);
  return spec;
}

/** Calls an idempotent SSM operation, waiting out throttling and transient errors (poll-interval based backoff). */
export function readSsm<T>(settings: SsmSettings, ctx: ExecutorContext, operation: string, call: () => Promise<T>): Promise<T> {
  return retryIdempotent(call, {
    signal: ctx.signal, sleep: settings.sleep, baseDelayMs: settings.pollIntervalMs, maxDelayMs: settings.maxPollIntervalMs, maxFailures: 8,
    onRetry: (error, kind, delayMs) => ctx.logger.warn({ operation, kind, delayMs, error: ctx.redact(describeSsmError(error)) }, `SSM ${operation} ${kind}; retrying`),
  }).catch((error: unknown) => {
    throw toExecutorError(error, operation, ctx);
  });
}

/** Maps an SDK failure to a coded executor error; an abort stays an AbortError (`executor_aborted`). */
export function toExecutorError(error: unknown, operation: string, ctx: ExecutorContext): unknown {
  if (error instanceof ExecutorError) return error;
  const kind = classifySsmError(error);
  if (kind === 'aborted') return error;
  const what = ctx.redact(describeSsmError(error));
  if (kind === 'rejected') return new ExecutorError('ssm_request_rejected', `SSM rejected ${operation}: ${what}`, { retryable: false, cause: error });
  if (kind === 'config') return new ExecutorError('ssm_config_invalid', `SSM client is not configured (AWS_REGION, credentials): ${what}`, { retryable: false, cause: error });
  if (kind === 'unexpected') return new ExecutorError('ssm_unexpected_error', `SSM ${operation} failed unexpectedly: ${what}`, { retryable: true, cause: error });
  return new ExecutorError('ssm_unavailable', `SSM ${operation} failed (${kind}): ${what}`, { retryable: true, cause: error });
}

/** Redacts, then keeps the last `max` characters (errors show at the end); redacting first so no secret is cut in half. */
export function capOutput(raw: string, max: number, ctx: ExecutorContext): { text: string; truncated: boolean } {
  const text = ctx.redact(raw);
  return text.length <= max ? { text, truncated: false } : { text: `[…${text.length - max} chars cut]${text.slice(-max)}`, truncated: true };
}

/** The next poll interval: half again as long, capped. */
export function nextInterval(settings: SsmSettings, current: number): number {
  return Math.min(settings.maxPollIntervalMs, Math.ceil(current * 1.5));
}

/** Throws `code` (not retryable) when `input` does not satisfy `schema`, listing every problem. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, code: string, executor: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`);
  throw new ExecutorError(code, `${executor}: invalid arguments: ${problems.join('; ')}`, { retryable: false });
}

// ssmArgs accepts `{{ … }}` templates in typed fields; by the time a call runs they are resolved,
// so the resolved value must have the plain type.
const resolved = z.object({
  document: z.string(),
  targets: z.array(z.object({ key: z.string(), values: z.array(z.string()) })).optional(),
  instance_ids: z.array(z.string()).optional(),
  parameters: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  env: z.record(z.string(), z.string()).optional(),
  max_concurrency: z.union([z.string(), z.number()]).optional(),
  max_errors: z.union([z.string(), z.number()]).optional(),
  comment: z.string().optional(),
}, { error: 'expected resolved arguments (a template was left unresolved)' });
const resolvedSsmArgs = ssmArgs.pipe(resolved);
type SsmCall = z.output<typeof resolved>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COMMENT_MAX = 100;

/**
 * Lines that set `env` on the instance, prepended to the script, for the two documents whose
 * `commands` run in a known shell. Why this and not `export NAME='value'`: a value spliced into
 * script text is shell syntax, and quoting it right for every value is where injections live
 * (`'; rm -rf / #`). SSM documents declare no environment parameter, and document parameters are
 * themselves interpolated into the script by the document. So each value travels base64-encoded:
 * the base64 alphabet (`A-Za-z0-9+/=`) cannot leave single quotes, cannot form `{{ssm:…}}`
 * references that SSM would resolve, and decodes byte for byte (the trailing `.` keeps trailing
 * newlines that `$(…)` would strip). Names are checked against `[A-Za-z_][A-Za-z0-9_]*`.
 * Other documents take values as document `parameters`; `env` is refused for them.
 */
export function encodeEnvPrelude(document: string, env: Readonly<Record<string, string>>): string[] {
  const bad = Object.keys(env).filter((name) => !ENV_NAME.test(name));
  if (bad.length > 0) throw new ExecutorError('ssm_input_invalid', `ssm: env names must match [A-Za-z_][A-Za-z0-9_]*, found ${bad.map((n) => JSON.stringify(n)).join(', ')}`, { retryable: false });
  const encode = (value: string) => Buffer.from(value, 'utf8').toString('base64');
  const entries = Object.entries(env);
  if (entries.length === 0) return [];
  if (document === 'AWS-RunShellScript') {
    return entries.map(([name, value]) => `${name}="$(printf %s '${encode(value)}' | base64 -d; printf .)"; export ${name}="\${${name}%.}"`);
  }
  if (document === 'AWS-RunPowerShellScript') {
    return entries.map(([name, value]) => `$env:${name} = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('${encode(value)}'))`);
  }
  throw new ExecutorError('ssm_env_unsupported', `ssm: \`env\` is supported for AWS-RunShellScript and AWS-RunPowerShellScript only; pass values to ${document} as document \`parameters\``, { retryable: false });
}

/** `runbook:<first 32 hex of sha256(idempotency key)>`: the marker a reconcile looks for. */
export function commentMarker(idempotencyKey: string): string {
  return `runbook:${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
}

/** The SendCommand request for a resolved call; pure. */
export function buildSendCommand(call: SsmCall, idempotencyKey: string, deliveryTimeoutSeconds: number): SendCommandCommandInput {
  const parameters: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(call.parameters ?? {})) parameters[name] = Array.isArray(value) ? [...value] : [value];
  const prelude = encodeEnvPrelude(call.document, call.env ?? {});
  if (prelude.length > 0) {
    if (!parameters['commands']) throw new ExecutorError('ssm_input_invalid', `ssm: \`env\` needs a \`commands\` parameter for ${call.document}`, { retryable: false });
    parameters['commands'] = [...prelude, ...parameters['commands']];
  }
  const comment = `${commentMarker(idempotencyKey)}${call.comment ? ` ${call.comment}` : ''}`.slice(0, COMMENT_MAX);
  return {
    DocumentName: call.document,
    Comment: comment,
    TimeoutSeconds: deliveryTimeoutSeconds,
    Parameters: parameters,
    ...(call.targets ? { Targets: call.targets.map((t) => ({ Key: t.key, Values: [...t.values] })) } : { InstanceIds: [...(call.instance_ids ?? [])] }),
    ...(call.max_concurrency === undefined ? {} : { MaxConcurrency: String(call.max_concurrency) }),
    ...(call.max_errors === undefined ? {} : { MaxErrors: String(call.max_errors) }),
  };
}

/** What a finished command reports per target. */
export interface SsmTargetResult {
  readonly instanceId: string;
  readonly status: string;
  readonly statusDetails: string;
  /** The exit code; -1 when the target never ran it. */
  readonly responseCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly truncated: boolean;
}

const TERMINAL_COMMAND = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);
const MAX_SEND_ATTEMPTS = 4;
const MAX_INVISIBLE_POLLS = 10;
const SSM_DEFAULT_MAX_CONCURRENCY = '50';

/**
 * Builds the `ssm` executor. Output: `{ commandId, document, adopted, status, targetCount,
 * failed, targets: SsmTargetResult[] }`. Fails with `ssm_command_failed` (not retryable) when more
 * targets failed than `max_errors` allows (default 0), `ssm_no_targets` when nothing matched.
 */
export function createSsmExecutor(options: SsmExecutorOptions = {}): Executor {
  const settings = compileSsmOptions(options);
  return {
    spec: builtinSpec('ssm'),
    plan: (input) => planCommand(parseInput(resolvedSsmArgs, input, 'ssm_input_invalid', 'ssm')),
    run: async (input, ctx) => {
      const call = parseInput(resolvedSsmArgs, input, 'ssm_input_invalid', 'ssm');
      const request = buildSendCommand(call, ctx.idempotencyKey, settings.deliveryTimeoutSeconds);
      const { commandId, adopted } = await startOnce(settings, request, ctx);
      ctx.logger.info({ commandId, adopted, document: call.document }, adopted ? 'adopted the SSM command of an earlier delivery' : 'sent SSM command');
      try {
        const command = await pollCommand(settings, commandId, adopted, ctx);
        const targets = await collectTargets(settings, commandId, ctx);
        return judge(call, command, targets, adopted);
      } catch (error) {
        if (ctx.signal.aborted && settings.cancelOnAbort) await cancelQuietly(settings, commandId, ctx);
        throw error;
      }
    },
  };
}

function planCommand(call: SsmCall): string[] {
  const to = call.targets ? call.targets.map((t) => `${t.key}=${t.values.join(',')}`).join(' and ') : (call.instance_ids ?? []).join(', ');
  const limits = `max_concurrency ${call.max_concurrency ?? SSM_DEFAULT_MAX_CONCURRENCY}, max_errors ${call.max_errors ?? 0}`;
  const lines = [`SendCommand ${call.document} to ${to} (${limits})`];
  for (const [name, value] of Object.entries(call.parameters ?? {})) lines.push(`${name}: ${JSON.stringify(Array.isArray(value) ? value : [value])}`);
  for (const [name, value] of Object.entries(call.env ?? {})) lines.push(`env: ${name}=${JSON.stringify(value)} (base64-delivered, not in the command text)`);
  return lines;
}

/** Adopts the command an earlier delivery sent, or sends it; after a lost reply, looks again before resending. */
async function startOnce(settings: SsmSettings, request: SendCommandCommandInput, ctx: ExecutorContext): Promise<{ commandId: string; adopted: boolean }> {
  const marker = commentMarker(ctx.idempotencyKey);
  const existing = await findCommand(settings, request.DocumentName ?? '', marker, ctx);
  if (existing) return { commandId: existing, adopted: true };
  for (let attempt = 1; ; attempt += 1) {
    try {
      const reply = await sendCommandOnce(settings.client, request, ctx.signal);
      const commandId = reply.Command?.CommandId;
      if (!commandId) throw new ExecutorError('ssm_unavailable', 'SendCommand answered without a CommandId', { retryable: true });
      return { commandId, adopted: false };
    } catch (error) {
      const kind = classifySsmError(error);
      if (kind !== 'throttled' && kind !== 'outcome_unknown') throw toExecutorError(error, 'SendCommand', ctx);
      const delayMs = Math.min(settings.maxPollIntervalMs, settings.pollIntervalMs * 2 ** (attempt - 1));
      ctx.logger.warn({ kind, attempt, delayMs, error: ctx.redact(describeSsmError(error)) }, 'SendCommand failed; checking before sending again');
      await settings.sleep(delayMs, ctx.signal);
      // The request may have created the command before the reply was lost: never send twice. Look
      // even after the last attempt, since a step retry carries a new key and would not find it.
      const found = kind === 'outcome_unknown' ? await findCommand(settings, request.DocumentName ?? '', marker, ctx) : undefined;
      if (found) return { commandId: found, adopted: true };
      if (attempt >= MAX_SEND_ATTEMPTS) throw toExecutorError(error, 'SendCommand', ctx);
    }
  }
}

const RECONCILE_PAGES = 20;

/** The id of the recent command of `document` whose comment starts with `marker`, if any. */
async function findCommand(settings: SsmSettings, document: string, marker: string, ctx: ExecutorContext): Promise<string | undefined> {
  const after = new Date(settings.now() - settings.reconcileWindowMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  let nextToken: string | undefined;
  for (let page = 0; page < RECONCILE_PAGES; page += 1) {
    const request = { Filters: [{ key: 'DocumentName' as const, value: document }, { key: 'InvokedAfter' as const, value: after }], MaxResults: 50, NextToken: nextToken };
    const reply = await readSsm(settings, ctx, 'ListCommands', () => settings.client.send(new ListCommandsCommand(request), { abortSignal: ctx.signal }));
    const match = reply.Commands?.find((c) => c.Comment !== undefined && (c.Comment === marker || c.Comment.startsWith(`${marker} `)));
    if (match?.CommandId) return match.CommandId;
    nextToken = reply.NextToken;
    if (!nextToken) return undefined;
  }
  ctx.logger.warn({ pages: RECONCILE_PAGES }, 'stopped looking for an earlier SSM command after many pages');
  return undefined;
}

/** Polls the command (one ListCommands per round, whatever the fleet size) until it is terminal. */
async function pollCommand(settings: SsmSettings, commandId: string, adopted: boolean, ctx: ExecutorContext): Promise<Command> {
  let intervalMs = settings.pollIntervalMs;
  let invisible = 0;
  if (!adopted) await settings.sleep(intervalMs, ctx.signal);
  for (;;) {
    // Right after SendCommand the command may not be readable yet (InvalidCommandId): poll again.
    const read = () => settings.client.send(new ListCommandsCommand({ CommandId: commandId }), { abortSignal: ctx.signal }).catch(unless('InvalidCommandId', { Commands: [] }));
    const command = (await readSsm(settings, ctx, 'ListCommands', read)).Commands?.[0];
    if (command?.Status && TERMINAL_COMMAND.has(command.Status)) return command;
    if (!command && (invisible += 1) > MAX_INVISIBLE_POLLS) {
      throw new ExecutorError('ssm_command_missing', `SSM command ${commandId} did not become visible`, { retryable: false });
    }
    await settings.sleep(intervalMs, ctx.signal);
    intervalMs = nextInterval(settings, intervalMs);
  }
}

/** Every target's result: the invocation list with plugin details, then full output for up to `outputTargetLimit`. */
async function collectTargets(settings: SsmSettings, commandId: string, ctx: ExecutorContext): Promise<SsmTargetResult[]> {
  const invocations: CommandInvocation[] = [];
  let nextToken: string | undefined;
  do {
    const request = { CommandId: commandId, Details: true, MaxResults: 50, NextToken: nextToken };
    const reply = await readSsm(settings, ctx, 'ListCommandInvocations', () => settings.client.send(new ListCommandInvocationsCommand(request), { abortSignal: ctx.signal }));
    invocations.push(...(reply.CommandInvocations ?? []));
    nextToken = reply.NextToken;
  } while (nextToken);
  const failedFirst = [...invocations].sort((a, b) => Number(a.Status === 'Success') - Number(b.Status === 'Success'));
  const detailed = new Set(failedFirst.slice(0, settings.outputTargetLimit).filter((i) => i.CommandPlugins?.length === 1).map((i) => i.InstanceId));
  const results: SsmTargetResult[] = [];
  for (const invocation of invocations) {
    const plugin = invocation.CommandPlugins?.length === 1 ? invocation.CommandPlugins[0] : undefined;
    let stdout = (invocation.CommandPlugins ?? []).map((p) => p.Output ?? '').join('');
    let stderr = '';
    let responseCode = plugin?.ResponseCode ?? (invocation.CommandPlugins ?? []).find((p) => (p.ResponseCode ?? 0) !== 0)?.ResponseCode ?? -1;
    if (detailed.has(invocation.InstanceId) && plugin?.Name) {
      const full = await fetchInvocation(settings, commandId, invocation.InstanceId ?? '', plugin.Name, ctx);
      if (full) ({ stdout, stderr, responseCode } = full);
    }
    const out = capOutput(stdout, settings.maxOutputChars, ctx);
    const err = capOutput(stderr, settings.maxOutputChars, ctx);
    results.push({
      instanceId: invocation.InstanceId ?? '', status: invocation.Status ?? 'Unknown', statusDetails: invocation.StatusDetails ?? '',
      responseCode, stdout: out.text, stderr: err.text, truncated: out.truncated || err.truncated,
    });
  }
  return results;
}

/** Full stdout/stderr of one invocation; undefined when SSM says it does not exist (yet). */
async function fetchInvocation(settings: SsmSettings, commandId: string, instanceId: string, pluginName: string, ctx: ExecutorContext) {
  const request = { CommandId: commandId, InstanceId: instanceId, PluginName: pluginName };
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    // InvocationDoesNotExist: not registered yet (SSM is eventually consistent); ask again shortly.
    const read = () => settings.client.send(new GetCommandInvocationCommand(request), { abortSignal: ctx.signal }).catch(unless('InvocationDoesNotExist', undefined));
    const reply = await readSsm(settings, ctx, 'GetCommandInvocation', read);
    if (reply) return { stdout: reply.StandardOutputContent ?? '', stderr: reply.StandardErrorContent ?? '', responseCode: reply.ResponseCode ?? -1 };
    await settings.sleep(settings.pollIntervalMs, ctx.signal);
  }
  return undefined;
}

/** A `.catch` handler that turns the SSM error named `name` into `fallback` and rethrows anything else. */
function unless<T>(name: string, fallback: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof Error && error.name === name) return fallback;
    throw error;
  };
}

/** Failures tolerated: a count, or a percentage of the targets rounded down (`10%` of 15 = 1). */
function allowedErrors(maxErrors: string | number | undefined, targetCount: number): number {
  const text = String(maxErrors ?? 0);
  return text.endsWith('%') ? Math.floor((Number.parseInt(text, 10) / 100) * targetCount) : Number(text);
}

function judge(call: SsmCall, command: Command, targets: SsmTargetResult[], adopted: boolean): unknown {
  const targetCount = Math.max(command.TargetCount ?? 0, targets.length);
  const failed = targets.filter((t) => t.status !== 'Success');
  const summary = { commandId: command.CommandId ?? '', document: call.document, adopted, status: command.Status ?? 'Unknown', targetCount, failed: failed.length, targets };
  if (targetCount === 0) throw new ExecutorError('ssm_no_targets', `SSM command ${summary.commandId} (${call.document}) matched no instances`, { retryable: false });
  const allowed = allowedErrors(call.max_errors, targetCount);
  if (failed.length > allowed) {
    const lines = failed.map((t) => `${t.instanceId} ${t.status} (exit ${t.responseCode})${lastLine(t.stderr || t.stdout)}`);
    const message = `SSM command ${summary.commandId} (${call.document}) failed on ${failed.length} of ${targetCount} targets, more than max_errors ${call.max_errors ?? 0}: ${lines.join('; ')}`;
    throw new ExecutorError('ssm_command_failed', message.slice(0, 2_000), { retryable: false });
  }
  return summary;
}

function lastLine(text: string): string {
  const line = text.trimEnd().split('\n').at(-1)?.trim() ?? '';
  return line ? `: ${line.slice(0, 200)}` : '';
}

async function cancelQuietly(settings: SsmSettings, commandId: string, ctx: ExecutorContext): Promise<void> {
  try {
    await settings.client.send(new CancelCommandCommand({ CommandId: commandId }), { abortSignal: AbortSignal.timeout(5_000) });
    ctx.logger.info({ commandId }, 'cancelled the SSM command after abort');
  } catch (error) {
    ctx.logger.warn({ commandId, error: ctx.redact(describeSsmError(error)) }, 'could not cancel the SSM command after abort');
  }
}

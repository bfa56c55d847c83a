/**
 * `targets.yaml` (`TARGETS_FILE`, default `./targets.yaml`): which backend controls each model's
 * serving (`rollback`) and each service's traffic (`failover`), and how to reach it. Parsed once
 * at start with a schema; every problem is reported at once as `file:line:col`. The contract the
 * backends implement follows, as it reads in the README.
 *
 * ## Control backends for `rollback` and `failover`
 *
 * ```yaml
 * models:
 *   model-x: { backend: http, base_url: http://127.0.0.1:8480, auth_header_env: SERVING_API_TOKEN }
 *   model-batch: { backend: ssm, document: MlPlatform-RollbackModel, parameters: { Environment: prod } }
 *   default: { backend: http, base_url: https://serving-control.ml.internal }
 * services:
 *   model-serving: { backend: http, base_url: https://traffic.ml.internal, auth_header_env: TRAFFIC_API_TOKEN }
 * ```
 *
 * A step's `target:` names an entry (it must exist); otherwise the entry named like the model or
 * service is used, then `default`. Entry keys: `backend` (`http` or `ssm`); for `http`, `base_url`
 * and optionally `auth_header_env` (an environment variable whose value is sent as
 * `Authorization: Bearer <value>`) and `auth_header` (send the value as is in this header instead);
 * for `ssm`, `document` and optionally `parameters` (fixed extra document parameters). Secrets are
 * never written in the file, only the names of the variables that hold them.
 *
 * ### HTTP: serving control API (`rollback`)
 *
 * | request | answers |
 * | --- | --- |
 * | `GET {base}/v1/models/{model}/deployment` | 200 a deployment (below); 404 unknown model |
 * | `GET {base}/v1/models/{model}/versions/{version}` | 200 the version exists (body not read); 404 it does not |
 * | `POST {base}/v1/models/{model}/deployment` `{ "version": "v41" }` | 202 rollout started, or 200 already serving; 404 unknown version; 409 conflicting rollout (retried) |
 *
 * A deployment: `{ "model": "model-x", "version": "v42", "previous_version": "v41", "target_version": null,
 * "history": [{ "version": "v42", "deployed_at": "2024-05-01T12:00:00Z", "idempotency_key": "run-1/rollback/do/1" }],
 * "healthy": true, "replicas_ready": 3, "replicas_desired": 3 }`. `version` serves now;
 * `previous_version` served before it (`null` if none); `target_version` is set while a rollout is
 * in progress; `history` is newest first (`history[0]` is `version`), and `idempotency_key` (optional)
 * is the key of the POST that deployed the entry.
 *
 * The executor reads the deployment (what it finds is `from_version`), resolves `to: previous` to
 * `previous_version` (else `history[1]`), succeeds at once with `already_serving: true` when that
 * version serves with no other rollout in progress or when `history[0]` was deployed by an earlier
 * attempt of the same step, checks the version exists, POSTs (unless a rollout to it is already in
 * progress), then reads the deployment with backoff until `version` is the target, `target_version`
 * is unset (or the target) and `healthy` is not `false`.
 *
 * ### HTTP: traffic manager (`failover`)
 *
 * | request | answers |
 * | --- | --- |
 * | `GET {base}/v1/services/{service}/weights` | 200 `{ "weights": { "us-east-1": 100, "us-west-2": 0 } }` (whole percents, summing to 100); 404 unknown service |
 * | `PUT {base}/v1/services/{service}/weights` `{ "weights": { …every region… } }` | 200 `{ "weights": { … } }` as applied; 400/409/422 refused |
 * | `GET {base}/v1/services/{service}/regions/{region}/health` | 200 `{ "healthy": true, … }`; 503 `{ "healthy": false, "reason": "…" }` |
 *
 * A shift step `p` puts `round(p% × (weight[from] + weight[to]))` on `to` and the rest of that
 * pair on `from`; other regions keep their weight. A step that would not raise `to`'s weight counts
 * as already reached, which is how a re-run resumes after a crash. `to`'s health is read before
 * every PUT: unhealthy before the first, the failover is refused; unhealthy later, it stops where
 * it is.
 *
 * Every request carries `Accept: application/json` and the credential; mutating ones carry
 * `Idempotency-Key` (the attempt's key; `<key>/shift/<p>` per failover step): a server answers a
 * repeated key with its first answer and applies the change once. Redirects are not followed.
 *
 * ### SSM Automation backend
 *
 * `StartAutomationExecution` of `document` (ClientToken derived from the idempotency key, so a
 * redelivered attempt rejoins its execution), with the entry's `parameters` plus:
 *
 * | operation | parameters | outputs read (`Step.Name`, or fields of a JSON object output) |
 * | --- | --- | --- |
 * | `rollback` | `Model`, `Version` (a version or `previous`) | `FromVersion` (needed for an exact undo), `ToVersion`, `AlreadyServing` |
 * | `failover` | `Service`, `From`, `To`, `Percent`: one execution per shift step | `Weights` (JSON object, after the step), `InitialWeights` (first step) |
 *
 * The document does the checks itself (the version exists, the target region is healthy, the
 * rollout converged) and fails the execution when one fails. It must be idempotent: a rollback to
 * the serving version changes nothing, and a failover step never lowers `To`'s share.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { formatDiagnostic, type Diagnostic } from '../machines/diagnostics.ts';
import { parseYamlSource } from '../machines/yaml-source.ts';
import { ExecutorError, sleep, type Executor, type ExecutorContext } from './contract.ts';
import type { AllowHost } from './http.ts';
import { readCapped } from './limits.ts';
import { createSsmAutomationExecutor } from './ssm-automation.ts';
import type { SsmExecutorOptions } from './ssm.ts';

/** Where `loadTargets` looks when `TARGETS_FILE` is unset (DESIGN.md §5). */
export const DEFAULT_TARGETS_FILE = './targets.yaml';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const expecting = (what: string) => ({ error: (issue: { readonly input?: unknown }) => (issue.input === undefined ? `is required: expected ${what}` : `expected ${what}`) });
const isHttpBase = (value: string): boolean => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol) && !value.includes('?') && !value.includes('#');

const httpTargetSchema = z.strictObject({
  backend: z.literal('http'),
  base_url: z.string(expecting('a base URL such as https://serving-control.ml.internal'))
    .refine(isHttpBase, expecting('an absolute http(s) URL without query or fragment, such as https://serving-control.ml.internal')),
  auth_header_env: z.string(expecting('an environment variable name')).regex(ENV_NAME, expecting('an environment variable name such as SERVING_API_TOKEN (the secret itself never goes in this file)')).optional(),
  auth_header: z.string(expecting('a header name')).regex(HEADER_NAME, expecting('a header name such as X-Api-Key')).optional(),
}).refine((t) => t.auth_header === undefined || t.auth_header_env !== undefined, { error: 'expected `auth_header_env` beside `auth_header` (the variable that holds its value)', path: ['auth_header'] });

const ssmTargetSchema = z.strictObject({
  backend: z.literal('ssm'),
  document: z.string(expecting('an SSM Automation document name')).min(1, expecting('an SSM Automation document name')),
  parameters: z.record(z.string(), z.union([z.string(), z.array(z.string())]), expecting('a mapping of fixed document parameters to strings or lists of strings')).optional(),
});

const KEYS: Readonly<Record<string, string>> = { http: 'backend, base_url, auth_header_env, auth_header', ssm: 'backend, document, parameters' };
const targetSchema = z.discriminatedUnion('backend', [httpTargetSchema, ssmTargetSchema], {
  error: (issue) => {
    if (issue.code === 'invalid_union') return issue.input === undefined ? 'is required: expected `http` or `ssm`' : 'expected `http` or `ssm`';
    if (issue.code === 'invalid_type') return 'expected an entry such as { backend: http, base_url: https://serving-control.ml.internal }';
    return undefined;
  },
});
const sectionSchema = z.record(z.string().regex(ENTRY_NAME, { error: 'expected an entry name of letters, digits, `.`, `_` and `-`' }), targetSchema, expecting('a mapping of names to entries'));
const fileSchema = z.strictObject({ models: sectionSchema.optional(), services: sectionSchema.optional() }, {
  error: (issue) => (issue.code === 'unrecognized_keys' ? 'unknown section: expected `models` or `services`' : issue.code === 'invalid_type' ? 'expected a mapping with `models` and/or `services`' : undefined),
});

/** An entry whose backend is an HTTP control API. */
export type HttpTarget = z.output<typeof httpTargetSchema>;
/** An entry whose backend is an SSM Automation document. */
export type SsmTarget = z.output<typeof ssmTargetSchema>;
export type ControlTarget = HttpTarget | SsmTarget;

/** One entry of a section, with where it is written (for messages). */
export interface TargetEntry {
  readonly name: string;
  readonly target: ControlTarget;
  /** `targets.yaml:3:3` */
  readonly where: string;
}

/** A parsed `targets.yaml`. */
export interface Targets {
  readonly file: string;
  readonly models: ReadonlyMap<string, TargetEntry>;
  readonly services: ReadonlyMap<string, TargetEntry>;
}

/** Which section of the file an operation looks in. */
export type TargetSection = 'models' | 'services';

/** `targets.yaml` is missing or invalid; `diagnostics` holds every problem, `message` all of them. */
export class TargetsFileError extends Error {
  override readonly name = 'TargetsFileError';
  readonly code: 'targets_file_missing' | 'targets_file_invalid';
  readonly retryable = false;
  readonly diagnostics: readonly Diagnostic[];

  constructor(code: TargetsFileError['code'], message: string, diagnostics: readonly Diagnostic[] = [], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.diagnostics = diagnostics;
  }
}

/**
 * Parses the text of a targets file named `file` (used in messages). Throws {@link TargetsFileError}
 * listing every problem as `file:line:col error [targets-…] …`. An empty file has no entries.
 */
export function parseTargets(text: string, file: string): Targets {
  const source = parseYamlSource(text, { file, line: 1, column: 1 }, 'targets file');
  if (source.diagnostics.length > 0) throw invalid(file, source.diagnostics);
  const parsed = fileSchema.safeParse(source.value ?? {});
  if (!parsed.success) {
    const diagnostics = parsed.error.issues.flatMap((issue): Diagnostic[] => {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
      return keys.map((key) => {
        const path = key === undefined ? issue.path : [...issue.path, key];
        const shown = path.map(String);
        const allowed = issue.code === 'unrecognized_keys' && shown.length === 3 ? allowedKeys(source.value, shown) : '';
        const message = issue.code === 'unrecognized_keys' && shown.length === 3 ? `unknown key: expected one of ${allowed}` : issue.message;
        return { severity: 'error', code: 'targets-invalid', message: `${shown.join('.') || '(file)'}: ${message}`, location: source.locate(shown, { preferKey: key !== undefined }) };
      });
    });
    throw invalid(file, diagnostics);
  }
  const section = (name: TargetSection) =>
    new Map(Object.entries(parsed.data[name] ?? {}).map(([entry, target]): [string, TargetEntry] => {
      const at = source.locate([name, entry], { preferKey: true });
      return [entry, { name: entry, target, where: `${at.file}:${at.line}:${at.column}` }];
    }));
  return { file, models: section('models'), services: section('services') };
}

function allowedKeys(value: unknown, path: readonly string[]): string {
  const entry = path.slice(0, 2).reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined), value);
  const backend = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)['backend'] : undefined;
  return KEYS[String(backend)] ?? 'backend, …';
}

function invalid(file: string, diagnostics: readonly Diagnostic[]): TargetsFileError {
  const lines = diagnostics.map(formatDiagnostic);
  return new TargetsFileError('targets_file_invalid', `${file} is invalid (${lines.length} problem${lines.length === 1 ? '' : 's'}):\n${lines.join('\n')}`, diagnostics);
}

/** Reads and parses `path` (`TARGETS_FILE`); a missing file is a {@link TargetsFileError} saying what to do. */
export function loadTargets(path: string = DEFAULT_TARGETS_FILE): Targets {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ENOENT';
    const why = missing ? 'not found' : `could not be read (${error instanceof Error ? error.message : String(error)})`;
    throw new TargetsFileError('targets_file_missing', `${path}: ${why}; create it (see targets.example.yaml) or set TARGETS_FILE`, [], error);
  }
  return parseTargets(text, path);
}

/**
 * The entry an operation on `name` uses: `explicit` (a step's `target:`) when given, else the entry
 * named `name`, else `default`. Throws `targets_entry_not_found` (not retryable) saying what exists.
 */
export function resolveTarget(targets: Targets, section: TargetSection, name: string, explicit?: string): TargetEntry {
  const entries = targets[section];
  const found = explicit !== undefined ? entries.get(explicit) : (entries.get(name) ?? entries.get('default'));
  if (found) return found;
  const known = entries.size > 0 ? `entries: ${[...entries.keys()].join(', ')}` : `the section is empty`;
  const message = explicit !== undefined
    ? `target \`${explicit}\` is not an entry under \`${section}:\` in ${targets.file} (${known})`
    : `${targets.file} has no entry for \`${name}\` under \`${section}:\` and no \`default\` (${known}); add one, or name one with \`target:\``;
  throw new ExecutorError('targets_entry_not_found', message, { retryable: false });
}

/** How an entry reads in plans and logs: `http https://… (targets.yaml:3:3 model-x)`. */
export function describeTarget(entry: TargetEntry): string {
  const how = entry.target.backend === 'http' ? `http ${entry.target.base_url}` : `ssm document ${entry.target.document}`;
  return `${how} (${entry.where} ${entry.name})`;
}

/** Options shared by `createRollbackExecutor` and `createFailoverExecutor`. */
export interface ControlExecutorOptions {
  /** The parsed `targets.yaml` (see {@link loadTargets}). */
  readonly targets: Targets;
  /** @default globalThis.fetch (undici) */
  readonly fetch?: typeof fetch;
  /** For entries with `backend: ssm`: the client and polling of the reused `ssm-automation` executor. @default `createSsmClient()`, built on first use */
  readonly ssm?: SsmExecutorOptions;
  /** Where `auth_header_env` variables are read, at call time. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The policy's host allowlist, asked before every request. @default every host allowed */
  readonly allowHost?: AllowHost;
  /** Deadline of one request, body included. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Response bytes read at most; control API answers are small. @default 65536 */
  readonly maxBodyBytes?: number;
  /** @default the abortable sleep of the executor contract */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** @default Date.now */
  readonly now?: () => number;
}

/** {@link ControlExecutorOptions} with defaults applied (STYLE.md 5). */
export interface ControlSettings extends Required<Omit<ControlExecutorOptions, 'ssm' | 'allowHost'>> {
  readonly allowHost: AllowHost | undefined;
  /** The `ssm-automation` executor, created on first use so an HTTP-only setup never builds an SSM client. */
  readonly automation: () => Executor;
}

/** Applies the defaults of {@link ControlExecutorOptions}. */
export function compileControlOptions(options: ControlExecutorOptions): ControlSettings {
  let automation: Executor | undefined;
  return {
    targets: options.targets,
    fetch: options.fetch ?? globalThis.fetch,
    env: options.env ?? process.env,
    allowHost: options.allowHost,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    sleep: options.sleep ?? sleep,
    now: options.now ?? Date.now,
    automation: () => (automation ??= createSsmAutomationExecutor(options.ssm)),
  };
}

/** One request to an HTTP control API; `path` segments are URL-encoded here. */
export interface ControlRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: readonly string[];
  readonly body?: unknown;
  readonly idempotencyKey?: string;
  /** Statuses handed back to the caller; any other is an error (retryable for 5xx, 408, 429). */
  readonly accept: readonly number[];
}

/** What a control API answered: the status and the JSON body (`undefined` when there is none or it is not JSON). */
export interface ControlReply {
  readonly status: number;
  readonly body: unknown;
  /** `GET https://…/deployment`, for messages. */
  readonly what: string;
}

/**
 * Sends `request` to the entry's API. Errors: `<operation>_backend_unavailable` (network, timeout,
 * 5xx, 408, 429; retryable), `<operation>_backend_rejected` (any other status). Redirects are
 * refused so the credential never travels elsewhere; an abort rejects with an AbortError.
 */
export async function callControlApi(settings: ControlSettings, entry: TargetEntry, target: HttpTarget, request: ControlRequest, ctx: ExecutorContext, operation: string): Promise<ControlReply> {
  const url = new URL(`${target.base_url.replace(/\/+$/, '')}/${request.path.map(encodeURIComponent).join('/')}`);
  const what = `${request.method} ${url.href}`;
  const decision = settings.allowHost?.(url) ?? { allowed: true };
  if (!decision.allowed) throw new ExecutorError('http_host_not_allowed', `${what} refused: host ${url.host} is not on the allowlist${decision.reason ? `: ${decision.reason}` : ''}`, { retryable: false });
  const headers = new Headers({ accept: 'application/json', 'user-agent': 'runbook-bot' });
  if (target.auth_header_env !== undefined) {
    const secret = settings.env[target.auth_header_env];
    if (!secret) throw new ExecutorError('targets_secret_missing', `${entry.where} (${entry.name}) names auth_header_env ${target.auth_header_env}, which is not set in the worker's environment`, { retryable: false });
    headers.set(target.auth_header ?? 'authorization', target.auth_header === undefined ? `Bearer ${secret}` : secret);
  }
  if (request.idempotencyKey !== undefined) headers.set('idempotency-key', request.idempotencyKey);
  if (request.body !== undefined) headers.set('content-type', 'application/json');
  const timeout = AbortSignal.timeout(settings.requestTimeoutMs);
  let status: number;
  let text: string;
  try {
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const response = await settings.fetch(url, { method: request.method, headers, body, redirect: 'error', signal: AbortSignal.any([ctx.signal, timeout]) });
    status = response.status;
    const read = await readCapped(response.body, settings.maxBodyBytes);
    text = read.bytes.toString('utf8');
  } catch (error) {
    if (ctx.signal.aborted) throw abortError(`${what} was aborted`);
    const why = timeout.aborted ? `no answer within ${settings.requestTimeoutMs} ms` : describeCause(error);
    throw new ExecutorError(`${operation}_backend_unavailable`, `${what} failed: ${ctx.redact(why)}`, { retryable: true, cause: error });
  }
  const body = parseJson(text);
  if (request.accept.includes(status)) return { status, body, what };
  const excerpt = text ? `: ${ctx.redact(text).slice(0, 300)}` : '';
  const retryable = status >= 500 || status === 408 || status === 429;
  throw new ExecutorError(`${operation}_backend_${retryable ? 'unavailable' : 'rejected'}`, `${what} answered ${status}${excerpt}`, { retryable });
}

/** Checks an answer against `schema`; a mismatch is `<operation>_backend_reply_invalid` (not retryable: the backend breaks the contract). */
export function readReply<T>(schema: z.ZodType<T>, reply: ControlReply, expected: string, operation: string): T {
  const parsed = schema.safeParse(reply.body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
  throw new ExecutorError(`${operation}_backend_reply_invalid`, `${reply.what} answered ${reply.status} but not ${expected} (${problems})`, { retryable: false });
}

const automationResult = z.object({ executionId: z.string(), outputs: z.record(z.string(), z.array(z.string())) });

/**
 * Runs the entry's Automation document through the `ssm-automation` executor (ClientToken from
 * `ctx.idempotencyKey`) and returns its outputs by name (see {@link flattenAutomationOutputs}).
 */
export async function runControlAutomation(settings: ControlSettings, target: SsmTarget, parameters: Readonly<Record<string, string>>, ctx: ExecutorContext): Promise<{ executionId: string; outputs: Record<string, unknown> }> {
  const result = automationResult.parse(await settings.automation().run({ document: target.document, parameters: { ...target.parameters, ...parameters } }, ctx));
  return { executionId: result.executionId, outputs: flattenAutomationOutputs(result.outputs) };
}

/**
 * Automation outputs (`Step.Name: [value]`) by `Name`, JSON values parsed, one-element lists
 * unwrapped. The fields of an output that holds a JSON object (an `aws:executeScript` payload) are
 * also readable by their own names, unless an output has that name.
 */
export function flattenAutomationOutputs(outputs: Readonly<Record<string, readonly string[]>>): Record<string, unknown> {
  const named: Record<string, unknown> = {};
  const nested: Record<string, unknown> = {};
  for (const [key, values] of Object.entries(outputs)) {
    const value = unwrap(values.map((v) => parseJson(v) ?? v));
    named[key.slice(key.lastIndexOf('.') + 1)] = value;
    if (isRecord(value)) for (const [field, inner] of Object.entries(value)) nested[field] ??= unwrap(inner);
  }
  return { ...nested, ...named };
}

const unwrap = (value: unknown): unknown => (Array.isArray(value) && value.length === 1 ? value[0] : value);

/** True for a value `plan` cannot know yet: a template or a run-time marker (`⟨params.model⟩`). */
export const isRuntimeValue = (value: unknown): boolean => typeof value === 'string' && /\{\{|⟨/.test(value);
/** True for a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** An Error named AbortError, which the worker reports as `executor_aborted`. */
const abortError = (message: string): Error => Object.assign(new Error(message), { name: 'AbortError' });

/** `fetch failed (connect ECONNREFUSED 127.0.0.1:9)`: undici hides the reason in `cause`. */
function describeCause(error: unknown): string {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  return error instanceof Error ? `${error.message}${cause instanceof Error ? ` (${cause.message})` : ''}` : String(error);
}

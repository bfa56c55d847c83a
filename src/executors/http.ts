/**
 * The `http` executor: one request, its status checked against `expect`, its answer in the step
 * output.
 *
 * Output shape (what `steps.<id>.output` holds):
 * - a JSON object body: its fields at the top level, so runbooks write `steps.current.output.version`,
 *   plus `_http`: `{ status, url, redirects, headers, truncated }` (a body field named `_http` is
 *   shadowed by it);
 * - any other JSON body (array, string, number, `null`): `{ body, _http }`;
 * - a non-JSON body, or one cut at the read limit: `{ text, _http }`, `text` capped and marked;
 * - no body (HEAD, 204): `{ _http }`.
 *
 * A body is JSON when its `content-type` says so (`application/json`, `…+json`) or is missing.
 * `_http.headers` holds a few lower-cased response headers (content-type, etag, location …).
 *
 * Every request carries `Idempotency-Key: ctx.idempotencyKey`, the same on every redelivery of the
 * attempt, so a server recognises a retried POST. Redirects are followed by hand, so the allowlist
 * and the `max_redirects` limit apply to every hop, and `Authorization`, cookies and secret-looking
 * headers (`X-Api-Key`) never reach another origin. Errors: `http_unexpected_status` (retryable for
 * 5xx, 429 and 408; `Retry-After` quoted), `http_network_error` and `http_timeout` (retryable),
 * `http_host_not_allowed`, `http_too_many_redirects`, `http_redirect_invalid`,
 * `executor_input_invalid`; an abort rejects with an AbortError (`executor_aborted`).
 */
import { ExecutorError, type Executor, type ExecutorContext, type ExecutorLogger } from './contract.ts';
import {
  DEFAULT_HTTP_BODY_LIMIT_BYTES,
  DEFAULT_HTTP_TEXT_LIMIT_CHARS,
  ERROR_EXCERPT_CHARS,
  describeMapForPlan,
  describeValueForPlan,
  headOf,
  isSecretLookingKey,
  readCapped,
  redactJson,
} from './limits.ts';
import { BUILTIN_EXECUTOR_SPECS, httpArgs, isTemplate } from './specs.ts';

/** What the policy says about a host. */
export interface HostDecision {
  readonly allowed: boolean;
  /** Why a host is refused, shown to the operator (`not in policy.http.allow`). */
  readonly reason?: string;
}

/** The policy's allowlist, asked before every request, redirect hops included. */
export type AllowHost = (url: URL) => HostDecision;

export interface HttpExecutorOptions {
  /** Host allowlist. @default every host allowed (each host is still logged) */
  readonly allowHost?: AllowHost;
  /** The fetch implementation; tests and `runbook dev` may pass their own. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Where each request's host is logged. @default the call's `ctx.logger` */
  readonly logger?: ExecutorLogger;
  /** Deadline of a whole call (every hop and the body), beside the step's `timeout`. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Response body bytes read at most; the rest is never downloaded. @default 262144 */
  readonly maxBodyBytes?: number;
  /** Characters of a non-JSON body kept in `text`. @default 16384 */
  readonly maxTextChars?: number;
  /** Redirects followed when the call sets no `max_redirects`. @default 3 */
  readonly defaultMaxRedirects?: number;
  /**
   * Where a request is actually sent, given the URL the runbook wrote (e.g. the sandbox's loopback
   * stand-in for `https://serving-control.ml.internal/...`). Only the connection changes: the
   * allowlist, logs, errors and the output's `_http.url` keep the runbook's URL. @default the URL as written
   */
  readonly resolveUrl?: (url: URL) => URL;
}

/** The key of the output that holds the status and headers, beside a JSON body's own fields. */
export const HTTP_META_KEY = '_http';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
type HttpMethod = (typeof METHODS)[number];
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const REPORTED_HEADERS = ['content-type', 'content-length', 'etag', 'last-modified', 'location', 'retry-after', 'x-request-id'] as const;
/** Headers that carry credentials: dropped (with any secret-looking header) when a redirect leaves the origin. */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'] as const;
const STATUS_CLASS = /^([1-5])xx$/;

interface HttpCall {
  readonly url: URL;
  readonly method: HttpMethod;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
  readonly expect: readonly (number | string)[];
  readonly maxRedirects: number;
}

interface Settings {
  readonly allowHost: AllowHost | undefined;
  readonly fetch: typeof fetch;
  readonly logger: ExecutorLogger | undefined;
  readonly requestTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxTextChars: number;
  readonly defaultMaxRedirects: number;
  readonly resolveUrl: ((url: URL) => URL) | undefined;
}

/** Creates the `http` executor (see the module comment for the output shape and error codes). */
export function createHttpExecutor(options: HttpExecutorOptions = {}): Executor {
  const settings: Settings = {
    allowHost: options.allowHost,
    fetch: options.fetch ?? globalThis.fetch,
    logger: options.logger,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_HTTP_BODY_LIMIT_BYTES,
    maxTextChars: options.maxTextChars ?? DEFAULT_HTTP_TEXT_LIMIT_CHARS,
    defaultMaxRedirects: options.defaultMaxRedirects ?? 3,
    resolveUrl: options.resolveUrl,
  };
  return {
    spec: specNamed('http'),
    run: async (input, ctx) => runHttpCall(parseCall(input, settings, ctx), settings, ctx),
    plan: (input) => planHttpCall(input, settings.defaultMaxRedirects),
  };
}

function specNamed(name: string) {
  const found = BUILTIN_EXECUTOR_SPECS.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no built-in executor spec named ${name}`);
  return found;
}

async function runHttpCall(call: HttpCall, settings: Settings, ctx: ExecutorContext): Promise<unknown> {
  const timeout = AbortSignal.timeout(settings.requestTimeoutMs);
  const signal = AbortSignal.any([ctx.signal, timeout]);
  const target = describeTarget(call.method, call.url, ctx);
  try {
    const answer = await follow(call, settings, ctx, signal);
    const read = call.method === 'HEAD' ? { bytes: Buffer.alloc(0), truncated: false } : await readCapped(answer.response.body, settings.maxBodyBytes);
    const output = toOutput(answer.response, answer.url, answer.redirects, read, settings, ctx);
    checkStatus(call, answer.response, output, describeTarget(answer.method, answer.url, ctx), ctx);
    return output;
  } catch (error) {
    throw classify(error, ctx, timeout, target, settings.requestTimeoutMs);
  }
}

/** Sends the request and follows redirects by hand, checking every hop against the allowlist. */
async function follow(call: HttpCall, settings: Settings, ctx: ExecutorContext, signal: AbortSignal): Promise<{ response: Response; url: URL; method: HttpMethod; redirects: number }> {
  let { url, method, body } = call;
  const headers = new Headers(call.headers);
  for (let redirects = 0; ; redirects += 1) {
    checkHost(url, method, redirects, settings, ctx);
    const response = await settings.fetch(settings.resolveUrl?.(new URL(url)) ?? url, { method, headers, body, redirect: 'manual', signal });
    const location = response.headers.get('location');
    if (!REDIRECT_STATUSES.has(response.status) || location === null || isListed(call.expect, response.status)) return { response, url, method, redirects };
    await response.body?.cancel().catch(() => undefined);
    if (redirects >= call.maxRedirects) {
      throw new ExecutorError('http_too_many_redirects', `${describeTarget(method, url, ctx)} redirected more than ${call.maxRedirects} times (max_redirects)`, { retryable: false });
    }
    const next = redirectTarget(location, url, ctx);
    if (next.origin !== url.origin) dropCredentials(headers);
    // What browsers do: 303 always, and 301/302 after a POST, continue as a GET without the body.
    if ((response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers.delete('content-type');
    }
    url = next;
  }
}

/** Removes what may be a credential before a hop to another origin: the standard headers and any secret-looking one (`X-Api-Key`). */
function dropCredentials(headers: Headers): void {
  const names = [...headers.keys()].filter((name) => (CREDENTIAL_HEADERS as readonly string[]).includes(name) || isSecretLookingKey(name));
  for (const name of names) headers.delete(name);
}

function redirectTarget(location: string, from: URL, ctx: ExecutorContext): URL {
  const next = URL.canParse(location, from.href) ? new URL(location, from) : undefined;
  if (!next || !/^https?:$/.test(next.protocol)) {
    throw new ExecutorError('http_redirect_invalid', `${from.origin} redirected to ${ctx.redact(JSON.stringify(location))}, not an http(s) URL`, { retryable: false });
  }
  return next;
}

function checkHost(url: URL, method: string, hop: number, settings: Settings, ctx: ExecutorContext): void {
  const logger = settings.logger ?? ctx.logger;
  const decision = settings.allowHost ? settings.allowHost(url) : { allowed: true, reason: 'no allowlist configured' };
  const fields = { host: ctx.redact(url.host), method, hop, allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) };
  if (!decision.allowed) {
    logger.warn(fields, 'http: host refused');
    const why = decision.reason ? `: ${ctx.redact(decision.reason)}` : '';
    throw new ExecutorError('http_host_not_allowed', `${describeTarget(method, url, ctx)} refused: host ${url.host} is not on the allowlist${why}`, { retryable: false });
  }
  logger.info(fields, 'http: request');
}

function toOutput(response: Response, url: URL, redirects: number, read: { bytes: Buffer; truncated: boolean }, settings: Settings, ctx: ExecutorContext): Record<string, unknown> {
  const headers: Record<string, string> = {};
  for (const name of REPORTED_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) headers[name] = ctx.redact(value);
  }
  const meta = (truncated: boolean) => ({ status: response.status, url: ctx.redact(url.href), redirects, headers, truncated });
  if (read.bytes.length === 0) return { [HTTP_META_KEY]: meta(read.truncated) };
  const text = read.bytes.toString('utf8');
  const json = read.truncated || !isJsonType(response.headers.get('content-type')) ? undefined : parseJson(text);
  if (json !== undefined) {
    const body = redactJson(json.value, ctx.redact);
    if (isRecord(body)) return { ...body, [HTTP_META_KEY]: meta(false) };
    return { body, [HTTP_META_KEY]: meta(false) };
  }
  const shown = headOf(ctx.redact(text), settings.maxTextChars);
  const marker = read.truncated && !shown.truncated ? `…[truncated at ${settings.maxBodyBytes} bytes]` : '';
  return { text: `${shown.text}${marker}`, [HTTP_META_KEY]: meta(read.truncated || shown.truncated) };
}

function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return true;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function checkStatus(call: HttpCall, response: Response, output: Record<string, unknown>, target: string, ctx: ExecutorContext): void {
  if (isExpected(call.expect, response.status)) return;
  const status = response.status;
  const retryable = status >= 500 || status === 429 || status === 408;
  const retryAfter = response.headers.get('retry-after');
  const excerpt = describeBody(output);
  const message = [
    `${target} answered ${status}${response.statusText ? ` ${response.statusText}` : ''}, expected ${call.expect.join(', ')}`,
    retryAfter === null ? '' : ` (Retry-After: ${ctx.redact(retryAfter)})`,
    excerpt ? `: ${excerpt}` : '',
  ].join('');
  throw new ExecutorError('http_unexpected_status', message, { retryable });
}

/** The (already redacted) answer, short, for an error message. */
function describeBody(output: Record<string, unknown>): string {
  const { [HTTP_META_KEY]: _meta, ...rest } = output;
  if (Object.keys(rest).length === 0) return '';
  const text = typeof rest['text'] === 'string' ? rest['text'] : JSON.stringify('body' in rest ? rest['body'] : rest);
  return headOf(text, ERROR_EXCERPT_CHARS / 4).text;
}

function isExpected(expect: readonly (number | string)[], status: number): boolean {
  return expect.some((entry) => (typeof entry === 'number' ? entry === status : STATUS_CLASS.exec(entry)?.[1] === String(Math.floor(status / 100))));
}

/** A redirect the call expects (`expect: [302]` or `[3xx]`) is the answer, not a hop to follow. */
function isListed(expect: readonly (number | string)[], status: number): boolean {
  return expect.some((entry) => entry === status || entry === '3xx');
}

/** Turns whatever a call threw into the error the step reports. */
function classify(error: unknown, ctx: ExecutorContext, timeout: AbortSignal, target: string, timeoutMs: number): Error {
  if (ctx.signal.aborted) {
    const aborted = new Error(`${target} was aborted`);
    aborted.name = 'AbortError';
    return aborted;
  }
  if (error instanceof ExecutorError) return error;
  if (timeout.aborted) return new ExecutorError('http_timeout', `${target} did not answer within ${timeoutMs} ms`, { retryable: true, cause: error });
  return new ExecutorError('http_network_error', `${target} failed: ${ctx.redact(describeCause(error))}`, { retryable: true, cause: error });
}

/** `fetch failed (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9)`: undici hides the reason in `cause`. */
function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (!(cause instanceof Error)) return error.message;
  const code = (cause as { code?: unknown }).code;
  return `${error.message} (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`;
}

function describeTarget(method: string, url: URL, ctx: ExecutorContext): string {
  return `${method} ${ctx.redact(url.href)}`;
}

function parseCall(input: unknown, settings: Settings, ctx: ExecutorContext): HttpCall {
  const parsed = httpArgs.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'arguments'}: ${issue.message}`), ctx);
  const args = parsed.data;
  const problems: string[] = [];
  const method = METHODS.find((candidate) => candidate === args.method);
  if (!method) problems.push(`method: expected one of ${METHODS.join(', ')}, found ${JSON.stringify(args.method)}`);
  const url = URL.canParse(args.url) && !isTemplate(args.url) ? new URL(args.url) : undefined;
  if (!url) problems.push(`url: expected an absolute http(s) URL, found ${JSON.stringify(args.url)}`);
  const headers = resolvedRecord(args.headers, 'headers', problems);
  const query = resolvedRecord(args.query, 'query', problems);
  const expect = typeof args.expect === 'string' ? [] : args.expect.filter((entry) => typeof entry === 'number' || STATUS_CLASS.test(entry));
  if (typeof args.expect === 'string' || expect.length !== args.expect.length) problems.push(`expect: expected statuses such as [200, 404] or classes such as [2xx], found ${JSON.stringify(args.expect)}`);
  const maxRedirects = args.max_redirects ?? settings.defaultMaxRedirects;
  if (typeof maxRedirects !== 'number') problems.push(`max_redirects: expected a whole number, found ${JSON.stringify(maxRedirects)}`);
  if (args.json !== undefined && (method === 'GET' || method === 'HEAD')) problems.push(`json: a ${method} request has no body; use POST, PUT, PATCH or DELETE`);
  if (problems.length > 0 || !method || !url || typeof maxRedirects !== 'number') throw invalidInput(problems, ctx);
  for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, String(value));
  return {
    url,
    method,
    headers: requestHeaders(headers ?? {}, args.json !== undefined, ctx),
    body: args.json === undefined ? undefined : JSON.stringify(args.json),
    expect,
    maxRedirects,
  };
}

/** A mapping argument, or a problem when a template in its place was never resolved. */
function resolvedRecord<V>(value: Readonly<Record<string, V>> | string | undefined, key: string, problems: string[]): Readonly<Record<string, V>> | undefined {
  if (typeof value !== 'string') return value;
  problems.push(`${key}: expected a mapping, found ${JSON.stringify(value)}`);
  return undefined;
}

/** The caller's headers, defaults for JSON, and the attempt's idempotency key (which the caller cannot replace). */
function requestHeaders(given: Readonly<Record<string, string>>, hasJson: boolean, ctx: ExecutorContext): Record<string, string> {
  const headers = new Headers(given);
  if (!headers.has('accept')) headers.set('accept', 'application/json, */*;q=0.5');
  if (hasJson && !headers.has('content-type')) headers.set('content-type', 'application/json');
  if (!headers.has('user-agent')) headers.set('user-agent', 'runbook-bot');
  headers.set('idempotency-key', ctx.idempotencyKey);
  return Object.fromEntries(headers.entries());
}

function invalidInput(problems: readonly string[], ctx: ExecutorContext): ExecutorError {
  return new ExecutorError('executor_input_invalid', ctx.redact(`http: invalid arguments: ${problems.join('; ')}`), { retryable: false });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What `runbook plan` and `--dry-run` show: the request line with its query, header names with
 * values unless they look secret, the body, the expected statuses. Lenient: arguments may still
 * hold markers for values only known at run time.
 */
function planHttpCall(input: unknown, defaultMaxRedirects: number): string[] {
  const args = isRecord(input) ? input : {};
  const method = typeof args['method'] === 'string' ? args['method'] : 'GET';
  const lines = [`${method} ${planUrl(args['url'], args['query'])}`];
  if (isRecord(args['headers'])) lines.push(`headers: ${describeMapForPlan(args['headers'], ': ')}`);
  if (args['json'] !== undefined) lines.push(`body: ${headOf(describeValueForPlan(args['json']), 200).text}`);
  const expect = Array.isArray(args['expect']) ? args['expect'].map(String).join(', ') : '2xx';
  lines.push(`expects ${expect}`);
  const maxRedirects = typeof args['max_redirects'] === 'number' ? args['max_redirects'] : defaultMaxRedirects;
  lines.push(`follows up to ${maxRedirects} redirect${maxRedirects === 1 ? '' : 's'}, each host checked against the allowlist; sends the attempt's Idempotency-Key`);
  return lines;
}

function planUrl(url: unknown, query: unknown): string {
  const base = (typeof url === 'string' ? url : describeValueForPlan(url)).replace(/([?&])([^=&#]+)=([^&#]*)/g, (all, sep: string, key: string) =>
    isSecretLookingKey(key) ? `${sep}${key}=[hidden]` : all,
  );
  if (!isRecord(query) || Object.keys(query).length === 0) return describeValueForPlan(base);
  const pairs = Object.entries(query).map(([key, value]) => `${key}=${isSecretLookingKey(key) ? '[hidden]' : describeValueForPlan(value)}`);
  return `${describeValueForPlan(base)}${base.includes('?') ? '&' : '?'}${pairs.join('&')}`;
}

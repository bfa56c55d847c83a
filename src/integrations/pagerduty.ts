/**
 * A small PagerDuty REST v2 client over `@pagerduty/pdjs` `api()`.
 *
 * pdjs gotchas handled here (REFERENCE.md §2.2): its `server` option always means `https://`, so
 * every request is built from `PAGERDUTY_API_URL` with the `url` option; it does not reject on
 * 4xx/5xx, so every status is checked; its `resource` is null off `*.com`, so bodies are read from
 * `data`; its `requestTimeout` only arms an idle timer, so it is disabled and a real deadline is an
 * AbortSignal. pdjs itself retries a 429 up to three times, `retryTimeout` apart.
 *
 * Incidents are deduplicated by `incident_key`: PagerDuty answers 400 ("Open incident with
 * matching dedup key already exists on this service") to a second `POST /incidents` with the key of
 * an open incident, and {@link PagerDutyClient.createIncident} then adopts that incident, which
 * makes creating an incident safe to repeat.
 */
import { api } from '@pagerduty/pdjs';
import { z } from 'zod';

/** PagerDuty's REST base URL (`PAGERDUTY_API_URL` unset). */
export const DEFAULT_PAGERDUTY_API_URL = 'https://api.pagerduty.com';

/** Options of {@link createPagerDutyClient}; durations in milliseconds. */
export interface PagerDutyClientOptions {
  /** REST API token (`PAGERDUTY_TOKEN`), sent as `Authorization: Token token=…`. */
  readonly token: string;
  /** Email of the acting PagerDuty user (`PAGERDUTY_FROM`); PagerDuty requires `From` on writes. */
  readonly from: string;
  /** REST base URL (`PAGERDUTY_API_URL`). @default https://api.pagerduty.com */
  readonly apiUrl?: string;
  /** Wait between pdjs's retries of a 429 (three at most). @default 10000 */
  readonly rateLimitRetryDelayMs?: number;
  /** Deadline of one request (pdjs's 429 retries included). @default 60000 */
  readonly timeoutMs?: number;
}

/** What this client reads of an incident. */
export interface PagerDutyIncident {
  readonly id: string;
  readonly incident_number: number;
  readonly title: string;
  readonly status: string;
  readonly html_url: string;
  readonly urgency?: string | undefined;
  readonly incident_key?: string | null | undefined;
  readonly escalation_level?: number | undefined;
  readonly service?: { readonly id: string; readonly summary?: string | undefined } | undefined;
}

/** A note on an incident. */
export interface PagerDutyNote {
  readonly id: string;
  readonly content: string;
  readonly created_at?: string | undefined;
}

/** The incident to open. PagerDuty's REST API needs a service even when an escalation policy is given. */
export interface CreateIncidentInput {
  /** Service id. */
  readonly service: string;
  /** Escalation policy id; overrides the service's. */
  readonly escalationPolicy?: string;
  readonly title: string;
  readonly urgency?: 'high' | 'low';
  readonly details?: string;
  /** Deduplication key: a second create with the key of an open incident adopts that incident. */
  readonly incidentKey?: string;
}

/** A change to an incident (`PUT /incidents/{id}`). */
export interface IncidentUpdate {
  readonly status?: 'acknowledged' | 'resolved';
  readonly escalation_level?: number;
  /** Hand the incident to another escalation policy (PagerDuty restarts it at that policy's level 1). */
  readonly escalation_policy?: { readonly id: string; readonly type: 'escalation_policy_reference' };
  readonly resolution?: string;
}

/** The REST calls the bot makes. Every method rejects with {@link PagerDutyError}, or an AbortError when `signal` fires. */
export interface PagerDutyClient {
  /** Opens an incident, or adopts the open one with the same `incidentKey` (`created: false`). */
  createIncident(input: CreateIncidentInput, signal?: AbortSignal): Promise<{ incident: PagerDutyIncident; created: boolean }>;
  /** Incidents matching the filter (first page, up to 100). */
  listIncidents(filter: { incidentKey?: string; statuses?: readonly string[]; serviceIds?: readonly string[] }, signal?: AbortSignal): Promise<PagerDutyIncident[]>;
  getIncident(id: string, signal?: AbortSignal): Promise<PagerDutyIncident>;
  updateIncident(id: string, update: IncidentUpdate, signal?: AbortSignal): Promise<PagerDutyIncident>;
  addNote(incidentId: string, content: string, signal?: AbortSignal): Promise<PagerDutyNote>;
  /** The id of a service given by id (`PSVC123`) or exact name (`model-serving`); undefined when none matches. */
  resolveServiceId(nameOrId: string, signal?: AbortSignal): Promise<string | undefined>;
}

export const PAGERDUTY_ERROR_CODES = {
  /** 4xx other than 429: fix the request, do not retry. */
  rejected: 'pagerduty_rejected',
  /** 429 after pdjs's own retries. */
  rateLimited: 'pagerduty_rate_limited',
  /** 5xx. */
  serverError: 'pagerduty_server_error',
  /** Network error, timeout, or an answer that is not the expected JSON. */
  requestFailed: 'pagerduty_request_failed',
} as const;

export type PagerDutyErrorCode = (typeof PAGERDUTY_ERROR_CODES)[keyof typeof PAGERDUTY_ERROR_CODES];

/** A failed PagerDuty call; `apiMessage` is PagerDuty's own `error.message` plus its `errors`. */
export class PagerDutyError extends Error {
  override readonly name = 'PagerDutyError';
  readonly code: PagerDutyErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly apiMessage: string | undefined;
  readonly apiErrors: readonly string[];

  constructor(code: PagerDutyErrorCode, message: string, details: { retryable: boolean; status?: number; apiMessage?: string; apiErrors?: readonly string[]; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.retryable = details.retryable;
    this.status = details.status;
    this.apiMessage = details.apiMessage;
    this.apiErrors = details.apiErrors ?? [];
  }
}

/**
 * PagerDuty settings from the environment (DESIGN.md §5). `options` is undefined when
 * `PAGERDUTY_TOKEN` is unset; `problems` name the variable and never echo the token.
 */
export function pagerDutyOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): { options: PagerDutyClientOptions | undefined; problems: string[] } {
  const token = env['PAGERDUTY_TOKEN']?.trim();
  const from = env['PAGERDUTY_FROM']?.trim();
  const apiUrl = env['PAGERDUTY_API_URL']?.trim() || undefined;
  const problems: string[] = [];
  if (apiUrl !== undefined && !(URL.canParse(apiUrl) && /^https?:$/.test(new URL(apiUrl).protocol))) {
    problems.push(`PAGERDUTY_API_URL must be an http(s) URL such as https://api.pagerduty.com; got ${JSON.stringify(apiUrl)}`);
  }
  if (!token) return { options: undefined, problems };
  if (!from || !/^[^@\s]+@[^@\s]+$/.test(from)) {
    problems.push(`PAGERDUTY_FROM must be the email address of a PagerDuty user (PagerDuty requires it on writes); got ${from ? JSON.stringify(from) : 'nothing'}`);
    return { options: undefined, problems };
  }
  return { options: { token, from, ...(apiUrl === undefined ? {} : { apiUrl }) }, problems };
}

const incidentSchema = z.object({
  id: z.string(),
  incident_number: z.number(),
  title: z.string(),
  status: z.string(),
  html_url: z.string(),
  urgency: z.string().optional(),
  incident_key: z.string().nullish(),
  escalation_level: z.number().optional(),
  service: z.object({ id: z.string(), summary: z.string().optional() }).optional(),
});
const noteSchema = z.object({ id: z.string(), content: z.string(), created_at: z.string().optional() });
const errorSchema = z.object({ error: z.object({ message: z.string().optional(), errors: z.array(z.string()).optional() }) });
const SERVICE_ID = /^[A-Z0-9]{6,20}$/;
const DEDUP_CONFLICT = /(dedup|incident)[ _]key.*already exists|already exists.*(dedup|incident)[ _]key/i;

interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  readonly query?: URLSearchParams;
  readonly data?: object;
}

/** Builds the client; nothing is sent until a method is called. */
export function createPagerDutyClient(options: PagerDutyClientOptions): PagerDutyClient {
  const base = (options.apiUrl ?? DEFAULT_PAGERDUTY_API_URL).replace(/\/+$/, '');
  const pd = api({ token: options.token, tokenType: 'token' });
  const timeoutMs = options.timeoutMs ?? 60_000;

  const send = async (spec: RequestSpec, signal: AbortSignal | undefined): Promise<unknown> => {
    const what = `${spec.method} ${spec.path}`;
    if (signal?.aborted) throw abortError(what);
    const timeout = AbortSignal.timeout(timeoutMs);
    const query = spec.query && [...spec.query.keys()].length > 0 ? `?${spec.query.toString()}` : '';
    let response: { ok: boolean; status: number; statusText: string; data: unknown };
    try {
      response = await pd({
        method: spec.method,
        url: `${base}${spec.path}${query}`,
        ...(spec.data ? { data: spec.data } : {}),
        headers: { From: options.from },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        retryTimeout: options.rateLimitRetryDelayMs ?? 10_000,
        requestTimeout: 0,
      });
    } catch (error) {
      if (signal?.aborted) throw abortError(what);
      throw requestFailure(error, what, timeout.aborted, timeoutMs);
    }
    if (!response.ok) throw statusFailure(response, what);
    return response.data;
  };

  const listIncidents: PagerDutyClient['listIncidents'] = async (filter, signal) => {
    const query = new URLSearchParams({ limit: '100' });
    if (filter.incidentKey) query.set('incident_key', filter.incidentKey);
    for (const status of filter.statuses ?? []) query.append('statuses[]', status);
    for (const id of filter.serviceIds ?? []) query.append('service_ids[]', id);
    const data = await send({ method: 'GET', path: '/incidents', query }, signal);
    return parse(z.object({ incidents: z.array(incidentSchema) }), data, 'GET /incidents').incidents;
  };

  return {
    listIncidents,
    createIncident: async (input, signal) => {
      const incident = {
        type: 'incident',
        title: input.title,
        service: { id: input.service, type: 'service_reference' },
        ...(input.urgency ? { urgency: input.urgency } : {}),
        ...(input.incidentKey ? { incident_key: input.incidentKey } : {}),
        ...(input.details ? { body: { type: 'incident_body', details: input.details } } : {}),
        ...(input.escalationPolicy ? { escalation_policy: { id: input.escalationPolicy, type: 'escalation_policy_reference' } } : {}),
      };
      try {
        const data = await send({ method: 'POST', path: '/incidents', data: { incident } }, signal);
        return { incident: parse(z.object({ incident: incidentSchema }), data, 'POST /incidents').incident, created: true };
      } catch (error) {
        if (!(error instanceof PagerDutyError) || !input.incidentKey || !isDedupConflict(error)) throw error;
        const open = await listIncidents({ incidentKey: input.incidentKey, statuses: ['triggered', 'acknowledged'], serviceIds: [input.service] }, signal);
        const existing = open.find((i) => i.incident_key === input.incidentKey) ?? open[0];
        if (!existing) throw error;
        return { incident: existing, created: false };
      }
    },
    getIncident: async (id, signal) => {
      const data = await send({ method: 'GET', path: `/incidents/${encodeURIComponent(id)}` }, signal);
      return parse(z.object({ incident: incidentSchema }), data, 'GET /incidents/{id}').incident;
    },
    updateIncident: async (id, update, signal) => {
      const data = await send({ method: 'PUT', path: `/incidents/${encodeURIComponent(id)}`, data: { incident: { type: 'incident_reference', ...update } } }, signal);
      return parse(z.object({ incident: incidentSchema }), data, 'PUT /incidents/{id}').incident;
    },
    addNote: async (incidentId, content, signal) => {
      const data = await send({ method: 'POST', path: `/incidents/${encodeURIComponent(incidentId)}/notes`, data: { note: { content } } }, signal);
      return parse(z.object({ note: noteSchema }), data, 'POST /incidents/{id}/notes').note;
    },
    resolveServiceId: async (nameOrId, signal) => {
      if (SERVICE_ID.test(nameOrId)) return nameOrId;
      const data = await send({ method: 'GET', path: '/services', query: new URLSearchParams({ query: nameOrId, limit: '100' }) }, signal);
      const { services } = parse(z.object({ services: z.array(z.object({ id: z.string(), name: z.string() })) }), data, 'GET /services');
      return services.find((s) => s.name === nameOrId)?.id ?? services.find((s) => s.name.toLowerCase() === nameOrId.toLowerCase())?.id;
    },
  };
}

/** True for PagerDuty's answer to a create whose `incident_key` matches an open incident. */
export function isDedupConflict(error: PagerDutyError): boolean {
  return error.status === 400 && [error.apiMessage ?? '', ...error.apiErrors].some((text) => DEDUP_CONFLICT.test(text));
}

function parse<T>(schema: z.ZodType<T>, data: unknown, what: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const problem = result.error.issues[0];
  const where = problem ? `${problem.path.join('.') || 'body'}: ${problem.message}` : 'unexpected shape';
  throw new PagerDutyError(PAGERDUTY_ERROR_CODES.requestFailed, `PagerDuty ${what} answered an unexpected body (${where})`, { retryable: true });
}

function statusFailure(response: { status: number; statusText: string; data: unknown }, what: string): PagerDutyError {
  const parsed = errorSchema.safeParse(response.data);
  const apiMessage = parsed.success ? parsed.data.error.message : undefined;
  const apiErrors = parsed.success ? (parsed.data.error.errors ?? []) : [];
  const said = [apiMessage ?? response.statusText, ...apiErrors].filter(Boolean).join(': ').slice(0, 500);
  const message = `PagerDuty ${what} answered ${response.status}${said ? ` (${said})` : ''}`;
  const details = { status: response.status, apiErrors, ...(apiMessage === undefined ? {} : { apiMessage }) };
  if (response.status === 429) return new PagerDutyError(PAGERDUTY_ERROR_CODES.rateLimited, message, { ...details, retryable: true });
  if (response.status >= 500) return new PagerDutyError(PAGERDUTY_ERROR_CODES.serverError, message, { ...details, retryable: true });
  if (response.status === 408) return new PagerDutyError(PAGERDUTY_ERROR_CODES.requestFailed, message, { ...details, retryable: true });
  return new PagerDutyError(PAGERDUTY_ERROR_CODES.rejected, message, { ...details, retryable: false });
}

/** pdjs rejects on network errors, and with the Response itself when a body is not JSON. */
function requestFailure(error: unknown, what: string, timedOut: boolean, timeoutMs: number): PagerDutyError {
  if (timedOut) return new PagerDutyError(PAGERDUTY_ERROR_CODES.requestFailed, `PagerDuty ${what} did not answer within ${timeoutMs} ms`, { retryable: true, cause: error });
  const status = typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number' ? error.status : undefined;
  if (status !== undefined) {
    const retryable = status >= 500 || status === 429 || status < 300;
    const code = status >= 400 && status < 500 && status !== 429 ? PAGERDUTY_ERROR_CODES.rejected : PAGERDUTY_ERROR_CODES.requestFailed;
    return new PagerDutyError(code, `PagerDuty ${what} answered ${status} with a body that is not JSON`, { retryable: code === PAGERDUTY_ERROR_CODES.rejected ? false : retryable, status });
  }
  const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new PagerDutyError(PAGERDUTY_ERROR_CODES.requestFailed, `PagerDuty ${what} failed: ${why.slice(0, 300)}`, { retryable: true, cause: error });
}

function abortError(what: string): Error {
  const error = new Error(`PagerDuty ${what} was aborted`);
  error.name = 'AbortError';
  return error;
}

/**
 * A loopback stand-in for the PagerDuty REST API v2 (REFERENCE.md §2.3), so the real
 * `@pagerduty/pdjs` talks to it over HTTP (with its `url` option) in tests and `runbook dev`.
 *
 * Routes: `GET /services?query=`, `POST /incidents` (201), `GET /incidents` (filters
 * `incident_key`, `statuses[]`, `service_ids[]`, `limit`, `offset`), `GET /incidents/{id}`,
 * `PUT /incidents/{id}` (status, escalation_level, resolution), `POST /incidents/{id}/notes`
 * (200, as in the OpenAPI), `GET /incidents/{id}/notes`. Every request needs
 * `Authorization: Token token=<accepted token>` (401 otherwise); writes need a `From` header
 * holding an email (400 otherwise, like the real API). Errors use PagerDuty's shape
 * `{"error":{"message","code","errors":[…]}}`.
 *
 * Deduplication, as PagerDuty does it: a `POST /incidents` whose `incident_key` matches an open
 * (triggered or acknowledged) incident of the same service answers 400 "Open incident with
 * matching dedup key already exists on this service" and creates nothing; once that incident is
 * resolved, the key opens a new one. Clients adopt the open incident via `GET /incidents?incident_key=`.
 *
 * Webhooks v3, as PagerDuty sends them: given a webhook URL and secret (option `webhook`, or
 * `state.setWebhook` at runtime), a created incident is delivered as `incident.triggered`, a status
 * change through REST as `incident.acknowledged`/`incident.resolved`, a note as
 * `incident.annotated`: signed, one at a time in order, retried on non-2xx (see
 * `pagerduty-webhooks.ts`). `state.deliveries` records them; `state.webhooksIdle()` waits for them.
 */
import { listenOnLoopback } from './loopback-server.ts';
import { buildWebhookEvent, buildWebhookIncident, buildWebhookNote, deliverPagerDutyWebhook, type WebhookAgent } from './pagerduty-webhooks.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface StandInService { readonly id: string; readonly name: string; readonly escalationPolicyId: string }
export interface StandInEscalationPolicy { readonly id: string; readonly name: string; readonly levels: number }

/** Options of {@link startPagerDutyStandIn}. */
export interface PagerDutyStandInOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Loopback only. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  /** Accepted REST tokens. @default ['pd-test-token'] */
  readonly tokens?: readonly string[];
  /** @default model-serving (PSVC001), feature-pipeline (PSVC002) */
  readonly services?: readonly StandInService[];
  /** @default PEP0001 (3 levels), PABC123 (2 levels) */
  readonly escalationPolicies?: readonly StandInEscalationPolicy[];
  /** Where to deliver webhooks v3, signed with `secret`; unset: none are sent. */
  readonly webhook?: StandInWebhook;
}

/** A webhook subscription of the stand-in. */
export interface StandInWebhook {
  readonly url: string;
  readonly secret: string;
  /** Further tries of a delivery answered with a non-2xx (other than a 4xx PagerDuty drops). @default 3 */
  readonly retries?: number;
  /** @default 100 */
  readonly retryDelayMs?: number;
}

/** One webhook delivery the stand-in made. */
export interface StandInDelivery {
  readonly eventId: string;
  readonly eventType: string;
  readonly incidentId: string;
  /** The last answer's status (0: no answer). */
  readonly status: number;
  readonly attempts: number;
}

/** One request as received. */
export interface PagerDutyCall {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The `From` header, if any. */
  readonly from: string | undefined;
  readonly body: unknown;
  /** The HTTP status answered; 0 when the reply was dropped. */
  status: number;
}

export interface StandInIncident {
  readonly id: string;
  readonly incident_number: number;
  readonly title: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  urgency: 'high' | 'low';
  readonly incident_key: string | null;
  readonly service: { readonly id: string; readonly summary: string };
  escalation_policy: { readonly id: string };
  escalation_level: number;
  readonly details: string | undefined;
  readonly created_by: string;
  resolution?: string;
  readonly created_at: string;
}

export interface StandInNote { readonly id: string; readonly content: string; readonly from: string; readonly created_at: string }

/** The stand-in's recorded traffic, simulated account and fault controls. */
export interface PagerDutyStandInState {
  readonly calls: PagerDutyCall[];
  readonly incidents: StandInIncident[];
  readonly notes: Map<string, StandInNote[]>;
  /** Calls with this method whose path starts with `pathPrefix`. */
  callsTo(method: string, pathPrefix: string): PagerDutyCall[];
  /** Answers the next `count` requests (matching `method`/`path` when given) with `status` and a PagerDuty error body. */
  failNext(count: number, status?: number, match?: { method?: string; path?: string }): void;
  /** Answers the next `count` requests with 429 Rate Limit Exceeded. */
  rateLimitNext(count: number): void;
  /** Applies the next request matching `method` and `path`, then destroys the socket unanswered (a lost reply). */
  dropNextReply(method: string, path: string): void;
  /** Webhook deliveries made so far, oldest first. */
  readonly deliveries: StandInDelivery[];
  /** Starts (or, with undefined, stops) delivering webhooks. */
  setWebhook(webhook: StandInWebhook | undefined): void;
  /** Resolves once every delivery queued so far has been answered (or given up). */
  webhooksIdle(): Promise<void>;
}

/** A running stand-in; `url` is the REST base (no trailing slash). `close()` is idempotent. */
export interface PagerDutyStandIn {
  readonly url: string;
  readonly state: PagerDutyStandInState;
  close(): Promise<void>;
}

type Reply = { readonly status: number; readonly body: unknown };
type Body = Record<string, unknown>;

const DEFAULT_SERVICES: readonly StandInService[] = [
  { id: 'PSVC001', name: 'model-serving', escalationPolicyId: 'PEP0001' }, { id: 'PSVC002', name: 'feature-pipeline', escalationPolicyId: 'PEP0001' },
];
const DEFAULT_POLICIES: readonly StandInEscalationPolicy[] = [{ id: 'PEP0001', name: 'ML on-call', levels: 3 }, { id: 'PABC123', name: 'ML leads', levels: 2 }];
const reply = (status: number, body: unknown): Reply => ({ status, body });
const invalid = (...errors: string[]): Reply => reply(400, { error: { message: 'Invalid Input Provided', code: 2001, errors } });
const notFound = (): Reply => reply(404, { error: { message: 'Not Found', code: 2100 } });
const record = (value: unknown): Body => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Body) : {});
const str = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Starts the stand-in on loopback; resolves once it listens. */
export async function startPagerDutyStandIn(options: PagerDutyStandInOptions = {}): Promise<PagerDutyStandIn> {
  const world = createWorld(options);
  const server = await listenOnLoopback((req, res) => void handle(world, req, res).catch(() => res.destroy()), options);
  world.base = server.base;
  return { url: world.base, state: world.state, close: server.close };
}

interface World {
  readonly state: PagerDutyStandInState;
  readonly tokens: ReadonlySet<string>;
  readonly services: readonly StandInService[];
  readonly policies: readonly StandInEscalationPolicy[];
  readonly faults: { failures: { count: number; status: number; method?: string; path?: string }[]; rateLimit: number; drop: { method: string; path: string }[] };
  base: string;
  seq: number;
  webhook: StandInWebhook | undefined;
  /** Deliveries go out one at a time, in order, like PagerDuty's per-incident ordering. */
  deliveryChain: Promise<void>;
}

function createWorld(options: PagerDutyStandInOptions): World {
  const faults: World['faults'] = { failures: [], rateLimit: 0, drop: [] };
  const state: PagerDutyStandInState = {
    calls: [],
    incidents: [],
    notes: new Map(),
    callsTo: (method, prefix) => state.calls.filter((c) => c.method === method && c.path.startsWith(prefix)),
    failNext: (count, status = 500, match = {}) => faults.failures.push({ count, status, ...match }),
    rateLimitNext: (count) => (faults.rateLimit = count),
    dropNextReply: (method, path) => faults.drop.push({ method, path }),
    deliveries: [],
    setWebhook: (webhook) => {
      world.webhook = webhook;
    },
    webhooksIdle: async () => {
      // A delivery may queue another while this one waits: wait until the chain stops growing.
      for (let chain = world.deliveryChain; ; chain = world.deliveryChain) {
        await chain;
        if (chain === world.deliveryChain) return;
      }
    },
  };
  const world: World = { state, tokens: new Set(options.tokens ?? ['pd-test-token']), services: options.services ?? DEFAULT_SERVICES, policies: options.escalationPolicies ?? DEFAULT_POLICIES, faults, base: '', seq: 0, webhook: options.webhook, deliveryChain: Promise.resolve() };
  return world;
}

/** Queues a signed delivery of `eventType` about `incident` (never delays the REST answer). */
function emitWebhook(world: World, eventType: string, incident: StandInIncident, agentEmail: string | undefined, note?: StandInNote): void {
  const webhook = world.webhook;
  if (!webhook) return;
  const agent: WebhookAgent = agentEmail ? { id: `PU${agentEmail.replace(/[^A-Za-z0-9]/g, '').slice(0, 8).toUpperCase()}`, name: agentEmail } : null;
  const data = note
    ? buildWebhookNote(incident, note)
    : buildWebhookIncident({
        id: incident.id, number: incident.incident_number, title: incident.title, status: incident.status, urgency: incident.urgency,
        service: { id: incident.service.id, name: incident.service.summary }, escalationPolicy: { id: incident.escalation_policy.id },
        incidentKey: incident.incident_key, createdAt: incident.created_at, apiBase: world.base, webBase: world.base,
      });
  const body = buildWebhookEvent(eventType, data, { agent });
  world.deliveryChain = world.deliveryChain.then(async () => {
    const result = await deliverPagerDutyWebhook(webhook.url, webhook.secret, body, { retries: webhook.retries ?? 3, retryDelayMs: webhook.retryDelayMs ?? 100 });
    world.state.deliveries.push({ eventId: body.event.id, eventType, incidentId: incident.id, status: result.status, attempts: result.attempts });
  });
}

async function handle(world: World, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const method = (req.method ?? 'GET').toUpperCase();
  const raw = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = raw ? (JSON.parse(raw) as unknown) : undefined;
  } catch {
    return send(res, reply(400, { error: { message: 'Invalid JSON', code: 2001 } }));
  }
  const call: PagerDutyCall = { method, path: url.pathname, query: url.searchParams, from: header(req, 'from'), body, status: 0 };
  world.state.calls.push(call);
  const answer = gate(world, req, call) ?? route(world, call);
  const dropAt = world.faults.drop.findIndex((d) => d.method === method && d.path === url.pathname);
  if (dropAt >= 0) {
    world.faults.drop.splice(dropAt, 1);
    req.socket.destroy();
    return;
  }
  call.status = answer.status;
  send(res, answer);
}

/** Authentication, `From` on writes, and scripted faults: a reply when the request stops here. */
function gate(world: World, req: IncomingMessage, call: PagerDutyCall): Reply | undefined {
  const token = /^Token token=(.+)$/.exec(header(req, 'authorization') ?? '')?.[1];
  if (!token || !world.tokens.has(token)) return reply(401, { error: { message: 'Unauthorized', code: 2006 } });
  if (world.faults.rateLimit > 0) {
    world.faults.rateLimit -= 1;
    return reply(429, { error: { message: 'Rate Limit Exceeded', code: 2020 } });
  }
  const failure = world.faults.failures.find((f) => (f.method === undefined || f.method === call.method) && (f.path === undefined || call.path.startsWith(f.path)));
  if (failure) {
    failure.count -= 1;
    if (failure.count <= 0) world.faults.failures.splice(world.faults.failures.indexOf(failure), 1);
    return reply(failure.status, { error: { message: failure.status >= 500 ? 'Internal Server Error' : 'Scripted failure', code: failure.status >= 500 ? 2000 : 2001 } });
  }
  if (call.method !== 'GET' && !/^[^@\s]+@[^@\s]+$/.test(call.from ?? '')) {
    return invalid('The From header is required and must be the email address of a valid user');
  }
  return undefined;
}

function route(world: World, call: PagerDutyCall): Reply {
  const parts = call.path.split('/').filter(Boolean);
  const [resource, id, sub] = parts;
  if (resource === 'services' && parts.length === 1 && call.method === 'GET') return listServices(world, call.query);
  if (resource !== 'incidents') return notFound();
  if (parts.length === 1) return call.method === 'POST' ? createIncident(world, call) : call.method === 'GET' ? listIncidents(world, call.query) : notFound();
  const incident = world.state.incidents.find((i) => i.id === id);
  if (!incident) return notFound();
  if (parts.length === 2 && call.method === 'GET') return reply(200, { incident: incidentJson(world, incident) });
  if (parts.length === 2 && call.method === 'PUT') return updateIncident(world, incident, record(record(call.body)['incident']), call.from);
  if (sub === 'notes' && parts.length === 3 && call.method === 'POST') return addNote(world, incident, call);
  if (sub === 'notes' && parts.length === 3 && call.method === 'GET') return reply(200, { notes: (world.state.notes.get(incident.id) ?? []).map(noteJson) });
  return notFound();
}

function listServices(world: World, query: URLSearchParams): Reply {
  const q = (query.get('query') ?? '').toLowerCase();
  const services = world.services.filter((s) => s.name.toLowerCase().includes(q)).map((s) => ({ id: s.id, type: 'service', name: s.name, summary: s.name, escalation_policy: { id: s.escalationPolicyId, type: 'escalation_policy_reference' } }));
  return reply(200, { services, limit: 100, offset: 0, more: false, total: null });
}

function createIncident(world: World, call: PagerDutyCall): Reply {
  const input = record(record(call.body)['incident']);
  const serviceId = str(record(input['service'])['id']);
  const service = world.services.find((s) => s.id === serviceId);
  const policyId = str(record(input['escalation_policy'])['id']);
  const urgency = input['urgency'] ?? 'high';
  const problems = [
    input['type'] === 'incident' ? '' : 'Incident type must be "incident"',
    str(input['title']).trim() ? '' : 'Title cannot be empty',
    service ? '' : `Service ${serviceId ? `${serviceId} not found` : 'is required'}`,
    policyId && !world.policies.some((p) => p.id === policyId) ? `Escalation Policy ${policyId} not found` : '',
    urgency === 'high' || urgency === 'low' ? '' : 'Urgency must be high or low',
  ].filter(Boolean);
  if (problems.length > 0 || !service) return invalid(...problems);
  const key = str(input['incident_key']) || null;
  if (key && world.state.incidents.some((i) => i.incident_key === key && i.service.id === service.id && i.status !== 'resolved')) {
    return invalid('Open incident with matching dedup key already exists on this service');
  }
  world.seq += 1;
  const incident: StandInIncident = {
    id: `Q0INC${String(world.seq).padStart(9, '0')}`, incident_number: world.seq, title: str(input['title']), status: 'triggered',
    urgency: urgency === 'low' ? 'low' : 'high', incident_key: key, service: { id: service.id, summary: service.name },
    escalation_policy: { id: policyId || service.escalationPolicyId }, escalation_level: 1,
    details: str(record(input['body'])['details']) || undefined, created_by: call.from ?? '', created_at: new Date().toISOString(),
  };
  world.state.incidents.push(incident);
  emitWebhook(world, 'incident.triggered', incident, call.from);
  return reply(201, { incident: incidentJson(world, incident) });
}

function listIncidents(world: World, query: URLSearchParams): Reply {
  const statuses = query.getAll('statuses[]');
  const services = query.getAll('service_ids[]');
  const key = query.get('incident_key');
  const limit = Math.min(Math.max(Number(query.get('limit')) || 25, 1), 100);
  const offset = Math.max(Number(query.get('offset')) || 0, 0);
  const matching = world.state.incidents.filter((i) =>
    (statuses.length === 0 || statuses.includes(i.status)) && (services.length === 0 || services.includes(i.service.id)) && (key === null || i.incident_key === key));
  const page = matching.slice(offset, offset + limit).map((i) => incidentJson(world, i));
  return reply(200, { incidents: page, limit, offset, more: offset + limit < matching.length, total: null });
}

function updateIncident(world: World, incident: StandInIncident, input: Body, from: string | undefined): Reply {
  if (input['type'] !== 'incident_reference' && input['type'] !== 'incident') return invalid('Incident type must be "incident_reference"');
  if (incident.status === 'resolved') return invalid('Incident Already Resolved');
  const status = input['status'];
  if (status !== undefined && status !== 'acknowledged' && status !== 'resolved') return invalid('Status must be acknowledged or resolved');
  const policyRef = input['escalation_policy'];
  if (policyRef !== undefined) {
    const policyId = str(record(policyRef)['id']);
    if (!world.policies.some((p) => p.id === policyId)) return invalid(`Escalation Policy ${policyId || '(none)'} not found`);
    if (policyId !== incident.escalation_policy.id) {
      incident.escalation_policy = { id: policyId };
      incident.escalation_level = 1;
    }
  }
  const level = input['escalation_level'];
  const levels = world.policies.find((p) => p.id === incident.escalation_policy.id)?.levels ?? 1;
  if (level !== undefined && (typeof level !== 'number' || !Number.isInteger(level) || level < 1 || level > levels)) {
    return invalid(`Escalation level must be a whole number from 1 to ${levels}`);
  }
  const changed = status !== undefined && status !== incident.status;
  if (status !== undefined) incident.status = status;
  if (changed) emitWebhook(world, `incident.${status}`, incident, from);
  if (typeof level === 'number') {
    incident.escalation_level = level;
    if (incident.status === 'acknowledged' && status === undefined) incident.status = 'triggered';
  }
  if (typeof input['resolution'] === 'string') incident.resolution = input['resolution'];
  return reply(200, { incident: incidentJson(world, incident) });
}

function addNote(world: World, incident: StandInIncident, call: PagerDutyCall): Reply {
  const content = str(record(record(call.body)['note'])['content']);
  if (!content.trim()) return invalid('Note content cannot be empty');
  world.seq += 1;
  const note: StandInNote = { id: `PNOTE${String(world.seq).padStart(7, '0')}`, content, from: call.from ?? '', created_at: new Date().toISOString() };
  world.state.notes.set(incident.id, [...(world.state.notes.get(incident.id) ?? []), note]);
  emitWebhook(world, 'incident.annotated', incident, call.from, note);
  return reply(200, { note: noteJson(note) });
}

function incidentJson(world: World, i: StandInIncident): Body {
  return {
    id: i.id, type: 'incident', summary: `[#${i.incident_number}] ${i.title}`, self: `${world.base}/incidents/${i.id}`, html_url: `${world.base}/incidents/${i.id}`,
    incident_number: i.incident_number, title: i.title, status: i.status, urgency: i.urgency, incident_key: i.incident_key, created_at: i.created_at,
    service: { id: i.service.id, type: 'service_reference', summary: i.service.summary },
    escalation_policy: { id: i.escalation_policy.id, type: 'escalation_policy_reference' }, escalation_level: i.escalation_level,
    ...(i.resolution === undefined ? {} : { resolution: i.resolution }),
  };
}

function noteJson(n: StandInNote): Body {
  return { id: n.id, user: { type: 'user_reference', summary: n.from }, channel: { summary: 'The PagerDuty REST API' }, content: n.content, created_at: n.created_at };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: ServerResponse, answer: Reply): void {
  res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', 'ratelimit-limit': '960', 'ratelimit-remaining': '959', 'ratelimit-reset': '60' });
  res.end(JSON.stringify(answer.body));
}

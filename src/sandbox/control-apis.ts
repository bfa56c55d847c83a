/**
 * Loopback stand-ins for the control APIs behind `rollback` and `failover` (the contract is in
 * `src/executors/targets.ts`): a serving control API (with the registry's `versions/resolve` the
 * shipped rollback runbook reads) and a traffic manager (with the per-region routes the shipped
 * failover runbook reads). Real HTTP and JSON on 127.0.0.1; every request is recorded in
 * `state.requests` (method, path, query, body, Idempotency-Key, Authorization). A repeated
 * Idempotency-Key gets the first answer again and changes nothing (422 if the body differs).
 * Scripted behaviours: a rollout that never converges, an unhealthy region, a region that turns
 * unhealthy after N weight changes, and the next N requests failing.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as a stand-in received it. */
export interface ControlRequestRecord {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The parsed JSON body, `undefined` when there is none. */
  readonly body: unknown;
  readonly idempotencyKey: string | undefined;
  readonly authorization: string | undefined;
}

/** A model the serving stand-in knows. */
export interface ModelFixture {
  /** Deployed versions, oldest first; the last one serves now. */
  readonly history: readonly string[];
  /** Versions in the registry. @default the versions of `history` */
  readonly versions?: readonly string[];
  /** Deployment reads after a switch until the new version serves (the read that sees it included). @default 2 */
  readonly convergeAfterReads?: number;
  /** The rollout never completes: the old version keeps serving. */
  readonly neverConverges?: boolean;
  /** @default 3 */
  readonly replicas?: number;
}

/** A region of a service the traffic stand-in knows. */
export interface RegionFixture {
  /** @default true */
  readonly healthy?: boolean;
  /** @default 'error rate above threshold' */
  readonly reason?: string;
  /** Turns unhealthy once this many weight changes of the service have been applied. */
  readonly unhealthyAfterWeightChanges?: number;
  /** @default 6 */
  readonly readyReplicas?: number;
}

/** A service the traffic stand-in knows: its weights, and regions' scripted health. */
export interface ServiceFixture {
  readonly weights: Readonly<Record<string, number>>;
  readonly regions?: Readonly<Record<string, RegionFixture>>;
}

/** A deployed version in the serving stand-in's history. */
export interface DeployedVersion {
  readonly version: string;
  readonly deployed_at: string;
  readonly idempotency_key?: string;
}

/** What both stand-ins share: the record of requests and fault controls. */
export interface StandInBase {
  readonly requests: ControlRequestRecord[];
  /** Answers the next `count` requests with `status` (default 503) and changes nothing. */
  failNext(count: number, status?: number): void;
}

/** The serving stand-in's world. */
export interface ServingControlState extends StandInBase {
  readonly models: Map<string, { history: DeployedVersion[]; versions: Set<string>; rollout: { version: string; key: string | undefined; reads: number } | undefined; fixture: ModelFixture }>;
  /** The version `model` serves now. */
  servingVersion(model: string): string | undefined;
}

/** The traffic stand-in's world. */
export interface TrafficManagerState extends StandInBase {
  readonly services: Map<string, { weights: Record<string, number>; changes: number; regions: Record<string, RegionFixture> }>;
  weightsOf(service: string): Readonly<Record<string, number>> | undefined;
  /** Scripts a region's health from now on. */
  setHealth(service: string, region: string, healthy: boolean, reason?: string): void;
}

/** A running stand-in; `close()` is idempotent. */
export interface ControlStandIn<S> {
  /** `http://127.0.0.1:<port>`: the `base_url` of a targets.yaml entry. */
  readonly url: string;
  readonly state: S;
  close(): Promise<void>;
}

type Reply = { readonly status: number; readonly body?: unknown };
type Route = (request: ControlRequestRecord, match: readonly string[]) => Reply;
type Routes = readonly (readonly [method: string, pattern: RegExp, route: Route])[];

const error = (status: number, code: string, message: string): Reply => ({ status, body: { error: code, message } });
const nowIso = (): string => new Date().toISOString();

/** Starts the serving control stand-in on 127.0.0.1 (`port: 0`: a free port). */
export async function startServingControlStandIn(options: { port?: number; models?: Readonly<Record<string, ModelFixture>> } = {}): Promise<ControlStandIn<ServingControlState>> {
  const models: ServingControlState['models'] = new Map();
  for (const [name, fixture] of Object.entries(options.models ?? { 'model-x': { history: ['v40', 'v41', 'v42'] } })) {
    const history = [...fixture.history].reverse().map((version) => ({ version, deployed_at: nowIso() }));
    models.set(name, { history, versions: new Set(fixture.versions ?? fixture.history), rollout: undefined, fixture });
  }
  const base = createBase();
  const state: ServingControlState = { ...base.state, models, servingVersion: (model) => models.get(model)?.history[0]?.version };
  return listen(options.port ?? 0, base, servingRoutes(state), state);
}

function servingRoutes(state: ServingControlState): Routes {
  const model = (name: string | undefined) => state.models.get(name ?? '');
  const deployment = (name: string, m: NonNullable<ReturnType<typeof model>>, advance: boolean) => {
    const rollout = m.rollout;
    if (advance && rollout && !m.fixture.neverConverges && (rollout.reads += 1) >= (m.fixture.convergeAfterReads ?? 2)) {
      m.history.unshift({ version: rollout.version, deployed_at: nowIso(), ...(rollout.key ? { idempotency_key: rollout.key } : {}) });
      m.rollout = undefined;
    }
    const replicas = m.fixture.replicas ?? 3;
    return {
      model: name, version: m.history[0]?.version ?? null, previous_version: m.history[1]?.version ?? null, target_version: m.rollout?.version ?? null,
      history: m.history, healthy: true, replicas_ready: replicas, replicas_desired: replicas, updated_at: m.history[0]?.deployed_at ?? null,
    };
  };
  return [
    ['GET', /^\/v1\/models\/([^/]+)\/deployment$/, (req, [name = '']) => {
      const m = model(name);
      if (!m) return error(404, 'model_not_found', `no model ${name}`);
      const body = deployment(name, m, true);
      const expected = req.query['expect_version'];
      if ((expected !== undefined && body.version !== expected) || (req.query['require_healthy'] === 'true' && !body.healthy)) return { status: 412, body };
      return { status: 200, body };
    }],
    ['POST', /^\/v1\/models\/([^/]+)\/deployment$/, (req, [name = '']) => {
      const m = model(name);
      const version = typeof req.body === 'object' && req.body !== null ? (req.body as Record<string, unknown>)['version'] : undefined;
      if (!m) return error(404, 'model_not_found', `no model ${name}`);
      if (typeof version !== 'string') return error(400, 'invalid_request', 'expected { "version": "<version>" }');
      if (!m.versions.has(version)) return error(404, 'version_not_found', `${name} has no version ${version}`);
      const from = m.history[0]?.version;
      if (from === version && !m.rollout) return { status: 200, body: { model: name, version, status: 'already_serving' } };
      m.rollout = { version, key: req.idempotencyKey, reads: 0 };
      return { status: 202, body: { model: name, version, from_version: from ?? null, status: 'rolling_out' } };
    }],
    ['GET', /^\/v1\/models\/([^/]+)\/versions\/resolve$/, (req, [name = '']) => {
      const m = model(name);
      if (!m) return error(404, 'model_not_found', `no model ${name}`);
      const asked = req.query['version'] ?? 'previous';
      const version = asked === 'previous' ? m.history.find((h) => h.version !== (req.query['relative_to'] ?? m.history[0]?.version))?.version : asked;
      if (version === undefined) return error(409, 'no_previous_version', `${name} has no earlier version`);
      return m.versions.has(version) ? { status: 200, body: versionBody(name, version) } : error(404, 'version_not_found', `${name} has no version ${version}`);
    }],
    ['GET', /^\/v1\/models\/([^/]+)\/versions\/([^/]+)$/, (_req, [name = '', version = '']) => {
      const m = model(name);
      return m?.versions.has(version) ? { status: 200, body: versionBody(name, version) } : error(404, 'version_not_found', `${name} has no version ${version}`);
    }],
  ];
}

function versionBody(model: string, version: string): Record<string, unknown> {
  return { model, version, artifact_uri: `s3://models/${model}/${version}`, stage: 'archived', validated: true, created_at: '2024-01-01T00:00:00Z' };
}

/** Starts the traffic manager stand-in on 127.0.0.1 (`port: 0`: a free port). */
export async function startTrafficManagerStandIn(options: { port?: number; services?: Readonly<Record<string, ServiceFixture>> } = {}): Promise<ControlStandIn<TrafficManagerState>> {
  const services: TrafficManagerState['services'] = new Map();
  for (const [name, fixture] of Object.entries(options.services ?? { 'model-serving': { weights: { 'us-east-1': 100, 'us-west-2': 0 } } })) {
    services.set(name, { weights: { ...fixture.weights }, changes: 0, regions: { ...fixture.regions } });
  }
  const base = createBase();
  const state: TrafficManagerState = {
    ...base.state,
    services,
    weightsOf: (service) => services.get(service)?.weights,
    setHealth: (service, region, healthy, reason) => {
      const s = services.get(service);
      if (s) s.regions[region] = { ...s.regions[region], healthy, ...(reason ? { reason } : {}) };
    },
  };
  return listen(options.port ?? 0, base, trafficRoutes(state), state);
}

function trafficRoutes(state: TrafficManagerState): Routes {
  const service = (name: string | undefined) => state.services.get(name ?? '');
  const notFound = (name: string) => error(404, 'service_not_found', `no service ${name}`);
  const health = (s: NonNullable<ReturnType<typeof service>>, region: string) => {
    const fixture = s.regions[region] ?? {};
    const turned = fixture.unhealthyAfterWeightChanges !== undefined && s.changes >= fixture.unhealthyAfterWeightChanges;
    const healthy = (fixture.healthy ?? true) && !turned;
    const ready = fixture.readyReplicas ?? 6;
    return { region, healthy, ready_replicas: ready, min_replicas: 2, headroom_pct: healthy ? 40 : 0, p99_ms: healthy ? 85 : 2400, ...(healthy ? {} : { reason: fixture.reason ?? 'error rate above threshold' }) };
  };
  return [
    ['GET', /^\/v1\/services\/([^/]+)\/weights$/, (_req, [name = '']) => {
      const s = service(name);
      return s ? { status: 200, body: { service: name, weights: s.weights } } : notFound(name);
    }],
    ['PUT', /^\/v1\/services\/([^/]+)\/weights$/, (req, [name = '']) => {
      const s = service(name);
      if (!s) return notFound(name);
      const weights = typeof req.body === 'object' && req.body !== null ? (req.body as Record<string, unknown>)['weights'] : undefined;
      const problem = checkWeights(weights, s.weights);
      if (problem) return error(422, 'invalid_weights', problem);
      s.weights = { ...(weights as Record<string, number>) };
      s.changes += 1;
      return { status: 200, body: { service: name, weights: s.weights } };
    }],
    ['GET', /^\/v1\/services\/([^/]+)\/regions\/([^/]+)\/health$/, (_req, [name = '', region = '']) => {
      const s = service(name);
      if (!s || s.weights[region] === undefined) return notFound(`${name} in ${region}`);
      const body = { service: name, ...health(s, region) };
      return { status: body.healthy ? 200 : 503, body };
    }],
    ['GET', /^\/v1\/services\/([^/]+)\/regions\/([^/]+)$/, (req, [name = '', region = '']) => {
      const s = service(name);
      const weight = s?.weights[region];
      if (!s || weight === undefined) return notFound(`${name} in ${region}`);
      const h = health(s, region);
      const body = { service: name, region, weight, ready_replicas: h.ready_replicas, healthy: h.healthy, error_rate: h.healthy ? 0.001 : 0.2, in_flight: weight * 3 };
      const expected = req.query['expect_weight'];
      return { status: expected !== undefined && Number(expected) !== weight ? 412 : 200, body };
    }],
    ['PUT', /^\/v1\/services\/([^/]+)\/regions\/([^/]+)\/autoscaling$/, (req, [name = '', region = '']) => {
      const s = service(name);
      const min = typeof req.body === 'object' && req.body !== null ? Number((req.body as Record<string, unknown>)['min_replicas']) : Number.NaN;
      if (!s || s.weights[region] === undefined) return notFound(`${name} in ${region}`);
      if (!Number.isInteger(min) || min < 0) return error(422, 'invalid_request', 'expected { "min_replicas": <whole number> }');
      return { status: 202, body: { service: name, region, min_replicas: min, ready_replicas: health(s, region).ready_replicas } };
    }],
  ];
}

function checkWeights(weights: unknown, current: Readonly<Record<string, number>>): string | undefined {
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) return 'expected { "weights": { "<region>": <percent> } }';
  const entries = Object.entries(weights as Record<string, unknown>);
  const regions = Object.keys(current);
  if (entries.length !== regions.length || !regions.every((r) => r in weights)) return `expected a weight for every region: ${regions.join(', ')}`;
  if (!entries.every(([, w]) => Number.isInteger(w) && (w as number) >= 0 && (w as number) <= 100)) return 'expected whole percents from 0 to 100';
  const total = entries.reduce((sum, [, w]) => sum + (w as number), 0);
  return total === 100 ? undefined : `expected weights summing to 100, got ${total}`;
}

interface Base {
  readonly state: StandInBase;
  readonly faults: { count: number; status: number };
  readonly replays: Map<string, { fingerprint: string; reply: Reply }>;
}

function createBase(): Base {
  const faults = { count: 0, status: 503 };
  const state: StandInBase = { requests: [], failNext: (count, status = 503) => Object.assign(faults, { count, status }) };
  return { state, faults, replays: new Map() };
}

async function listen<S extends StandInBase>(port: number, base: Base, routes: Routes, state: S): Promise<ControlStandIn<S>> {
  const server = createServer((req, res) => void handle(base, routes, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { address, port: bound } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  // closeAllConnections: undici keeps sockets alive, and close() alone would wait for them.
  const close = () => (closing ??= new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  return { url: `http://${address}:${bound}`, state, close };
}

async function handle(base: Base, routes: Routes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    res.destroy();
    return;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', 'http://stand-in');
  let body: unknown;
  let reply: Reply | undefined;
  try {
    body = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    reply = error(400, 'invalid_json', 'the body is not JSON');
  }
  const header = (name: string) => (typeof req.headers[name] === 'string' ? req.headers[name] : undefined);
  const record: ControlRequestRecord = {
    method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), body,
    idempotencyKey: header('idempotency-key'), authorization: header('authorization'),
  };
  base.state.requests.push(record);
  reply ??= base.faults.count > 0 ? (base.faults.count -= 1, error(base.faults.status, 'unavailable', 'scripted failure')) : route(base, routes, record, text);
  res.writeHead(reply.status, { 'content-type': 'application/json' });
  res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
}

function route(base: Base, routes: Routes, request: ControlRequestRecord, text: string): Reply {
  const replayKey = request.idempotencyKey === undefined || request.method === 'GET' ? undefined : `${request.method} ${request.path} ${request.idempotencyKey}`;
  const earlier = replayKey === undefined ? undefined : base.replays.get(replayKey);
  if (earlier) return earlier.fingerprint === text ? earlier.reply : error(422, 'idempotency_key_reused', 'this Idempotency-Key was used with another body');
  for (const [method, pattern, handler] of routes) {
    const match = method === request.method ? pattern.exec(request.path) : null;
    if (!match) continue;
    let params: string[];
    try {
      params = match.slice(1).map(decodeURIComponent);
    } catch {
      return error(400, 'invalid_path', `malformed path ${request.path}`);
    }
    const reply = handler(request, params);
    if (replayKey !== undefined && reply.status < 500) base.replays.set(replayKey, { fingerprint: text, reply });
    return reply;
  }
  return error(404, 'no_route', `no route for ${request.method} ${request.path}`);
}

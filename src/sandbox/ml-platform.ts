/**
 * Loopback stand-ins for the ML platform hosts the shipped runbooks call besides the serving and
 * traffic control APIs (`control-apis.ts`): the model registry, the metrics API, the feature
 * store, the feature pipeline, model monitoring and training. Real HTTP and JSON on 127.0.0.1, one
 * server (one port) per host, answering with the fields the runbooks read (see each runbook's
 * "Expected output"). {@link startJsonStandIn} is the server they share, exported for more hosts.
 *
 * The feature store and the feature pipeline share one world: partitions the pipeline
 * materializes are what the store counts and checks, and a discard restores the snapshot. Every
 * request is recorded in its stand-in's `state.requests`; `state.failRoute(path, status, times)`
 * scripts faults. A repeated `Idempotency-Key` on a POST gets the first answer again.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ControlRequestRecord } from './control-apis.ts';

/** One request as a stand-in received it, with when (for ordering across stand-ins). */
export interface PlatformRequestRecord extends ControlRequestRecord { readonly atMs: number }

/** A stand-in's record of requests and its fault controls. */
export interface PlatformStandInState {
  readonly requests: PlatformRequestRecord[];
  /**
   * Answers the next `times` requests whose path matches `pathPattern` (a RegExp, or a path where
   * `*` matches one segment) and `method` (any when omitted) with `status`; nothing changes.
   */
  failRoute(pathPattern: string | RegExp, status?: number, times?: number, method?: string): void;
  /** The recorded requests with this method whose path matches `pathPattern`, in order. */
  requestsTo(method: string, pathPattern: string | RegExp): PlatformRequestRecord[];
}

/** A running stand-in at `url` (`http://127.0.0.1:<port>`); `close()` is idempotent. */
export interface PlatformStandIn { readonly url: string; readonly state: PlatformStandInState; close(): Promise<void> }

/** An answer: status and JSON body. */
export type StandInReply = { readonly status: number; readonly body?: unknown };
/** A route: method, path pattern (its groups, URL-decoded, are the handler's `params`), handler. */
export type StandInRoute = readonly [method: string, pattern: RegExp, handle: (request: ControlRequestRecord, params: readonly string[]) => StandInReply];

/** The hosts served here, by stand-in name. */
export const ML_PLATFORM_HOSTS = {
  registry: 'model-registry.ml.internal', metrics: 'metrics.ml.internal', featureStore: 'feature-store.ml.internal',
  featurePipeline: 'feature-pipeline.ml.internal', monitoring: 'model-monitoring.ml.internal', training: 'training.ml.internal',
} as const;
/** A stand-in of {@link ML_PLATFORM_HOSTS}. */
export type MlPlatformService = keyof typeof ML_PLATFORM_HOSTS;

/** The reports a model's metrics and monitoring routes answer with (fields override the defaults). */
export type ModelReport = 'latency' | 'errors' | 'throughput' | 'drift' | 'performance';

/**
 * A model the registry, metrics and monitoring know: registry `versions` (oldest first),
 * `productionVersion` (default: the last), `ownerTeam` (@ml-ranking), `pagerdutyService` (the
 * owning team's PagerDuty service, PRANK01), `trainingPipeline` (`<model>-training`), and fields
 * that override the default `reports`.
 */
export interface PlatformModelFixture {
  readonly versions: readonly string[];
  readonly productionVersion?: string;
  readonly ownerTeam?: string;
  readonly pagerdutyService?: string;
  readonly trainingPipeline?: string;
  readonly reports?: Partial<Record<ModelReport, Readonly<Record<string, unknown>>>>;
}

/**
 * A feature dataset: `owner` (@ml-data-platform), `snapshotId` (snap-0001), `codeVersion` of the
 * pipeline (pipeline-4f2c9e1), `rowsPerPartition` (120000), and fields that override the quality
 * answer (`{ passed: true, failed_checks: [], null_rate_max: 0.004 }`).
 */
export interface DatasetFixture {
  readonly owner?: string;
  readonly snapshotId?: string;
  readonly codeVersion?: string;
  readonly rowsPerPartition?: number;
  readonly quality?: Readonly<Record<string, unknown>>;
}

/**
 * Options of {@link startMlPlatform}: `models` (default model-x, versions v40 v41 v42), `datasets`
 * (default features.user_activity_daily), `today` (UTC YYYY-MM-DD, which backfills may not reach;
 * default the real date).
 */
export interface MlPlatformOptions {
  readonly models?: Readonly<Record<string, PlatformModelFixture>>;
  readonly datasets?: Readonly<Record<string, DatasetFixture>>;
  readonly today?: () => string;
}

/** A partition the pipeline wrote (`discarded` once its backfill is discarded). */
export interface PartitionWrite { readonly partition: string; readonly backfill_id: string; readonly code_version: string; readonly rows: number; readonly committed_at: string; discarded: boolean }

/** What the stand-ins share: models, datasets (partitions, snapshots) and training runs. */
export interface MlPlatformWorld {
  readonly models: Map<string, PlatformModelFixture>;
  readonly datasets: Map<string, { fixture: DatasetFixture; snapshotId: string; snapshots: string[]; partitions: Map<string, PartitionWrite> }>;
  readonly trainingRuns: { id: string; pipeline: string; model: string; external_id: string; status: 'queued' | 'cancelled'; body: unknown }[];
  /** Replaces fields of one report of `model` from now on (e.g. `{ psi: 0.05 }` for drift below the threshold). */
  setReport(model: string, report: ModelReport, fields: Readonly<Record<string, unknown>>): void;
}

/** The running stand-ins and their shared world; `close()` closes them all. */
export interface MlPlatform { readonly standIns: Readonly<Record<MlPlatformService, PlatformStandIn>>; readonly world: MlPlatformWorld; close(): Promise<void> }

type Body = Record<string, unknown>;

const DEFAULT_REPORTS: Readonly<Record<ModelReport, Body>> = {
  latency: { p50_ms: 38, p99_ms: 412, slo_p99_ms: 250, baseline_p99_ms: 180 },
  errors: { error_rate: 0.012, timeout_rate: 0.031, top_error: 'DEADLINE_EXCEEDED' },
  throughput: { rps: 1840, baseline_rps: 1210, batch_queue_p99_ms: 95 },
  drift: { metric: 'psi', psi: 0.31, top_feature: 'session_length_p95', top_feature_psi: 0.31, prediction_psi: 0.14, features_over_threshold: 3, baseline: 'training-snapshot-2024-04-28' },
  performance: { metric: 'auc', current: 0.792, baseline: 0.81, degradation: 0.018, labelled_fraction: 0.42 },
};
const [DAY_MS, MAX_BACKFILL_DAYS] = [86_400_000, 180];
const DURATION = /^\d+(s|m|h|d)$/;

/** An error answer in the platform's shape: `{ error, message }`. */
export const fail = (status: number, error: string, message: string): StandInReply => ({ status, body: { error, message } });
/** A JSON answer. */
export const ok = (body: unknown, status = 200): StandInReply => ({ status, body });
const field = (body: unknown, key: string): unknown => (typeof body === 'object' && body !== null ? (body as Body)[key] : undefined);
const dayOf = (date: string): number | undefined => (/^\d{4}-\d{2}-\d{2}$/.test(date) && !Number.isNaN(Date.parse(`${date}T00:00:00Z`)) ? Date.parse(`${date}T00:00:00Z`) : undefined);
const days = (fromMs: number, toMs: number): string[] => Array.from({ length: Math.floor((toMs - fromMs) / DAY_MS) + 1 }, (_, i) => new Date(fromMs + i * DAY_MS).toISOString().slice(0, 10));

/** Starts every ML platform stand-in on 127.0.0.1 (free ports). */
export async function startMlPlatform(options: MlPlatformOptions = {}): Promise<MlPlatform> {
  const world = createWorld(options);
  const today = options.today ?? (() => new Date().toISOString().slice(0, 10));
  const started: Partial<Record<MlPlatformService, PlatformStandIn>> = {};
  const routes: Record<MlPlatformService, readonly StandInRoute[]> = {
    registry: registryRoutes(world), metrics: metricsRoutes(world), featureStore: featureStoreRoutes(world),
    featurePipeline: featurePipelineRoutes(world, today), monitoring: monitoringRoutes(world), training: trainingRoutes(world),
  };
  const closeAll = async () => void (await Promise.all(Object.values(started).map((s) => s.close())));
  try {
    for (const name of Object.keys(routes) as MlPlatformService[]) started[name] = await startJsonStandIn(routes[name]);
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { standIns: started as Record<MlPlatformService, PlatformStandIn>, world, close: closeAll };
}

function createWorld(options: MlPlatformOptions): MlPlatformWorld {
  const models = new Map(Object.entries(options.models ?? { 'model-x': { versions: ['v40', 'v41', 'v42'] } }));
  const datasets: MlPlatformWorld['datasets'] = new Map();
  for (const [name, fixture] of Object.entries(options.datasets ?? { 'features.user_activity_daily': {} })) {
    const snapshotId = fixture.snapshotId ?? 'snap-0001';
    datasets.set(name, { fixture, snapshotId, snapshots: [snapshotId], partitions: new Map() });
  }
  return {
    models, datasets, trainingRuns: [],
    setReport: (model, report, fields) => {
      const fixture = models.get(model);
      if (fixture) models.set(model, { ...fixture, reports: { ...fixture.reports, [report]: { ...fixture.reports?.[report], ...fields } } });
    },
  };
}

function versionBody(model: string, fixture: PlatformModelFixture, version: string): Body {
  const stage = version === (fixture.productionVersion ?? fixture.versions.at(-1)) ? 'production' : 'archived';
  const createdAt = new Date(Date.UTC(2024, 3, 1) + fixture.versions.indexOf(version) * 7 * DAY_MS).toISOString();
  return { model, version, artifact_uri: `s3://ml-models/${model}/${version}/model.tar.gz`, stage, validated: true, created_at: createdAt };
}

function registryRoutes(world: MlPlatformWorld): StandInRoute[] {
  const model = (name: string) => world.models.get(name);
  const notFound = (name: string) => fail(404, 'model_not_found', `no model ${name} in the registry`);
  return [
    ['GET', /^\/v1\/models\/([^/]+)$/, (_req, [name = '']) => {
      const m = model(name);
      if (!m) return notFound(name);
      const production = m.productionVersion ?? m.versions.at(-1) ?? null;
      return ok({
        model: name, owner_team: m.ownerTeam ?? '@ml-ranking', pagerduty_service: m.pagerdutyService ?? 'PRANK01', training_pipeline: m.trainingPipeline ?? `${name}-training`,
        production_version: production, trained_at: production ? versionBody(name, m, production)['created_at'] : null, versions: m.versions,
      });
    }],
    ['GET', /^\/v1\/models\/([^/]+)\/versions\/resolve$/, (req, [name = '']) => {
      const m = model(name);
      if (!m) return notFound(name);
      const asked = req.query['version'] || 'previous';
      if (asked !== 'previous') {
        const found = [asked, `v${asked}`, asked.replace(/^v/, '')].find((v) => m.versions.includes(v));
        return found ? ok(versionBody(name, m, found)) : fail(404, 'version_not_found', `${name} has no version ${asked}`);
      }
      const relativeTo = req.query['relative_to'] || (m.productionVersion ?? m.versions.at(-1) ?? '');
      const index = m.versions.indexOf(relativeTo);
      if (index < 0) return fail(404, 'version_not_found', `${name} has no version ${relativeTo} (relative_to)`);
      const previous = m.versions[index - 1];
      return previous ? ok(versionBody(name, m, previous)) : fail(409, 'no_previous_version', `${name} has no version before ${relativeTo}`);
    }],
    ['GET', /^\/v1\/models\/([^/]+)\/versions\/([^/]+)$/, (_req, [name = '', version = '']) => {
      const m = model(name);
      return m?.versions.includes(version) ? ok(versionBody(name, m, version)) : fail(404, 'version_not_found', `${name} has no version ${version}`);
    }],
  ];
}

/** A route answering with one report of a model, after checking its `window` query. */
function reportRoute(world: MlPlatformWorld, pattern: RegExp, report: ModelReport, check?: (query: Readonly<Record<string, string>>) => string | undefined): StandInRoute {
  return ['GET', pattern, (req, [name = '']) => {
    const m = world.models.get(name);
    if (!m) return fail(404, 'model_not_found', `no metrics for model ${name}`);
    const window = req.query['window'] ?? '';
    if (!DURATION.test(window)) return fail(400, 'invalid_window', `window: expected a duration such as 15m or 24h, found ${JSON.stringify(window)}`);
    const problem = check?.(req.query);
    if (problem) return fail(400, 'invalid_request', problem);
    return ok({ model: name, window, ...DEFAULT_REPORTS[report], ...m.reports?.[report] });
  }];
}

const metricsRoutes = (world: MlPlatformWorld): StandInRoute[] => (['latency', 'errors', 'throughput'] as const).map((report) => reportRoute(world, new RegExp(`^/api/v1/models/([^/]+)/${report}$`), report));

function monitoringRoutes(world: MlPlatformWorld): StandInRoute[] {
  const psiOnly = (query: Readonly<Record<string, string>>) => (query['metric'] === undefined || query['metric'] === 'psi' ? undefined : `metric: only psi is computed, found ${query['metric']}`);
  return [reportRoute(world, /^\/v1\/models\/([^/]+)\/drift$/, 'drift', psiOnly), reportRoute(world, /^\/v1\/models\/([^/]+)\/performance$/, 'performance')];
}

type Dataset = MlPlatformWorld['datasets'] extends Map<string, infer D> ? D : never;
type DatasetHandler = (d: Dataset, name: string, req: ControlRequestRecord, range: { fromMs: number; toMs: number }, params: readonly string[]) => StandInReply;
const codeVersionOf = (d: Dataset): string => d.fixture.codeVersion ?? 'pipeline-4f2c9e1';

/** A route on `/v1/datasets/{dataset}…`: 404 for an unknown dataset, 400 without valid `from`/`to` when `ranged`. */
function datasetRoute(world: MlPlatformWorld, method: string, pattern: RegExp, ranged: boolean, handle: DatasetHandler): StandInRoute {
  return [method, pattern, (req, [name = '', ...params]) => {
    const d = world.datasets.get(name);
    if (!d) return fail(404, 'dataset_not_found', `no dataset ${name}`);
    const [fromMs, toMs] = [dayOf(req.query['from'] ?? ''), dayOf(req.query['to'] ?? '')];
    if (ranged && (fromMs === undefined || toMs === undefined)) return fail(400, 'invalid_range', `from and to: expected dates such as 2024-05-01, found ${JSON.stringify(req.query['from'])} and ${JSON.stringify(req.query['to'])}`);
    return handle(d, name, req, { fromMs: fromMs ?? 0, toMs: toMs ?? 0 }, params);
  }];
}

/** The live partitions of `days` (written by `writtenBy`, when given). */
function liveWrites(d: Dataset, dates: readonly string[], writtenBy: string | undefined): PartitionWrite[] {
  return dates.map((day) => d.partitions.get(day)).filter((w): w is PartitionWrite => !!w && !w.discarded && (writtenBy === undefined || w.backfill_id === writtenBy));
}

function featureStoreRoutes(world: MlPlatformWorld): StandInRoute[] {
  return [
    datasetRoute(world, 'GET', /^\/v1\/datasets\/([^/]+)$/, false, (d, name) => {
      const stored = [...d.partitions.keys()].sort();
      return ok({
        dataset: name, owner: d.fixture.owner ?? '@ml-data-platform', snapshot_id: d.snapshotId, partitioning: 'day', first_partition: stored[0] ?? '2023-01-01',
        last_partition: stored.at(-1) ?? new Date(Date.now() - DAY_MS).toISOString().slice(0, 10), consumers: ['ranker-training-daily', 'churn-training-weekly'],
      });
    }),
    datasetRoute(world, 'GET', /^\/v1\/datasets\/([^/]+)\/partitions$/, true, (d, name, req, r) => {
      const expected = days(r.fromMs, r.toMs);
      const writes = liveWrites(d, expected, req.query['written_by']);
      const missing = expected.filter((day) => !writes.some((w) => w.partition === day));
      const body = { dataset: name, partitions_complete: writes.length, partitions_expected: expected.length, rows: writes.reduce((sum, w) => sum + w.rows, 0), snapshot_id: d.snapshotId, missing };
      return ok(body, missing.length > 0 && req.query['require_complete'] === 'true' ? 409 : 200);
    }),
    datasetRoute(world, 'GET', /^\/v1\/datasets\/([^/]+)\/quality$/, true, (d, name, req, r) =>
      ok({ dataset: name, checked_partitions: liveWrites(d, days(r.fromMs, r.toMs), req.query['written_by']).length, passed: true, failed_checks: [], null_rate_max: 0.004, ...d.fixture.quality })),
  ];
}

function featurePipelineRoutes(world: MlPlatformWorld, today: () => string): StandInRoute[] {
  return [
    datasetRoute(world, 'GET', /^\/v1\/datasets\/([^/]+)\/backfills\/estimate$/, true, (d, name, req, r) => {
      if ((req.query['partition'] ?? 'day') !== 'day') return fail(422, 'invalid_partition', `${name} is partitioned by day`);
      if (r.toMs < r.fromMs) return fail(422, 'invalid_range', `to (${req.query['to']}) is before from (${req.query['from']})`);
      const partitions = days(r.fromMs, r.toMs).length;
      if (partitions > MAX_BACKFILL_DAYS) return fail(422, 'range_too_long', `${partitions} days is more than ${MAX_BACKFILL_DAYS}; split the range`);
      if (r.toMs >= (dayOf(today()) ?? 0)) return fail(422, 'range_not_final', `to (${req.query['to']}) reaches today's unfinished partition`);
      const computeHours = Math.round(partitions * 0.75 * 100) / 100;
      return ok({ dataset: name, partitions, partition: 'day', code_version: codeVersionOf(d), compute_hours: computeHours, cost_usd: Math.round(computeHours * 2.4 * 100) / 100, running_jobs: 0 });
    }),
    datasetRoute(world, 'POST', /^\/v1\/datasets\/([^/]+)\/partitions\/([^/]+)\/materialize$/, false, (d, _name, req, _r, [partition = '']) => {
      const [backfillId, codeVersion] = [field(req.body, 'backfill_id'), field(req.body, 'code_version')];
      if (dayOf(partition) === undefined || field(req.body, 'partition') !== partition) return fail(400, 'invalid_partition', `expected the body's partition to be the path's date ${partition}`);
      if (typeof backfillId !== 'string' || backfillId === '' || field(req.body, 'write_mode') !== 'overwrite') return fail(400, 'invalid_request', 'expected { partition, code_version, backfill_id, write_mode: "overwrite" }');
      if (codeVersion !== codeVersionOf(d)) return fail(409, 'code_version_mismatch', `the pipeline runs ${codeVersionOf(d)}, not ${JSON.stringify(codeVersion)}`);
      const earlier = d.partitions.get(partition);
      if (earlier && earlier.backfill_id === backfillId && !earlier.discarded) return ok(earlier);
      const write: PartitionWrite = { partition, backfill_id: backfillId, code_version: codeVersion, rows: (d.fixture.rowsPerPartition ?? 120_000) + d.partitions.size * 17, committed_at: new Date().toISOString(), discarded: false };
      d.partitions.set(partition, write);
      d.snapshotId = `snap-${String(d.snapshots.length + 1).padStart(4, '0')}`;
      d.snapshots.push(d.snapshotId);
      return ok(write, 201);
    }),
    datasetRoute(world, 'POST', /^\/v1\/datasets\/([^/]+)\/backfills\/([^/]+)\/discard$/, false, (d, name, req, _r, [backfillId = '']) => {
      const restore = field(req.body, 'restore_snapshot');
      if (typeof restore !== 'string' || !d.snapshots.includes(restore)) return fail(422, 'snapshot_not_found', `restore_snapshot: expected one of ${d.snapshots.join(', ')}, found ${JSON.stringify(restore)}`);
      const discarded = [...d.partitions.values()].filter((w) => w.backfill_id === backfillId && !w.discarded);
      for (const w of discarded) w.discarded = true;
      d.snapshotId = restore;
      return ok({ dataset: name, backfill_id: backfillId, discarded_partitions: discarded.map((w) => w.partition), restored_snapshot: restore }, 202);
    }),
  ];
}

function trainingRoutes(world: MlPlatformWorld): StandInRoute[] {
  const pipelines = () => new Map([...world.models].map(([name, m]) => [m.trainingPipeline ?? `${name}-training`, name]));
  const view = ({ id, status, pipeline, model, external_id }: MlPlatformWorld['trainingRuns'][number]) => ({ training_run_id: id, status, pipeline, model, external_id, console_url: `https://training.ml.internal/console/runs/${id}` });
  return [
    ['POST', /^\/v1\/pipelines\/([^/]+)\/runs$/, (req, [pipeline = '']) => {
      const model = pipelines().get(pipeline);
      const externalId = field(req.body, 'external_id');
      if (!model) return fail(404, 'pipeline_not_found', `no training pipeline ${pipeline}`);
      if (field(req.body, 'model') !== model || typeof externalId !== 'string' || externalId === '') return fail(400, 'invalid_request', `expected { model: "${model}", external_id, … }`);
      const earlier = world.trainingRuns.find((r) => r.pipeline === pipeline && r.external_id === externalId);
      if (earlier) return ok(view(earlier));
      const run = { id: `tr-${String(world.trainingRuns.length + 1).padStart(5, '0')}`, pipeline, model, external_id: externalId, status: 'queued' as const, body: req.body };
      world.trainingRuns.push(run);
      return ok(view(run), 201);
    }],
    ['POST', /^\/v1\/pipelines\/([^/]+)\/runs\/by-external-id\/([^/]+)\/cancel$/, (_req, [pipeline = '', externalId = '']) => {
      const run = world.trainingRuns.find((r) => r.pipeline === pipeline && r.external_id === externalId);
      if (!run) return fail(404, 'run_not_found', `no run of ${pipeline} with external id ${externalId}`);
      run.status = 'cancelled';
      return ok(view(run));
    }],
  ];
}

/**
 * Starts a JSON stand-in on 127.0.0.1 (a free port) answering `routes`, recording every request it
 * answers and honouring `failRoute` and Idempotency-Key replays. A request no route matches goes to
 * `fallback` (the base URL of the stand-in that serves the rest of the host's API) when given,
 * else is answered 404.
 */
export async function startJsonStandIn(routes: readonly StandInRoute[], fallback?: string): Promise<PlatformStandIn> {
  const requests: PlatformRequestRecord[] = [];
  const faults: { method: string | undefined; pattern: RegExp; status: number; remaining: number }[] = [];
  const replays = new Map<string, { text: string; reply: StandInReply }>();
  const toRegExp = (p: string | RegExp) => (typeof p === 'string' ? new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`) : p);
  const state: PlatformStandInState = {
    requests,
    failRoute: (pattern, status = 503, times = 1, method) => void faults.push({ method: method?.toUpperCase(), pattern: toRegExp(pattern), status, remaining: times }),
    requestsTo: (method, pattern) => requests.filter((r) => r.method === method.toUpperCase() && toRegExp(pattern).test(r.path)),
  };
  const answer = (record: ControlRequestRecord, text: string): StandInReply | undefined => {
    const fault = faults.find((f) => f.remaining > 0 && (f.method === undefined || f.method === record.method) && f.pattern.test(record.path));
    if (fault) return (fault.remaining -= 1, fail(fault.status, 'scripted_failure', `scripted ${fault.status} for ${record.method} ${record.path}`));
    const replayKey = record.method === 'POST' && record.idempotencyKey ? `${record.path} ${record.idempotencyKey}` : undefined;
    const earlier = replayKey ? replays.get(replayKey) : undefined;
    if (earlier) return earlier.text === text ? earlier.reply : fail(422, 'idempotency_key_reused', 'this Idempotency-Key was used with another body');
    const found = routes.map(([method, pattern, handle]) => ({ match: method === record.method ? pattern.exec(record.path) : null, handle })).find((r) => r.match);
    if (!found?.match) return fallback ? undefined : fail(404, 'no_route', `no route for ${record.method} ${record.path}`);
    const reply = found.handle(record, found.match.slice(1).map((s) => decodeURIComponent(s)));
    if (replayKey && reply.status < 500) replays.set(replayKey, { text, reply });
    return reply;
  };
  const server = createServer((req, res) => void handle(req, res, requests, answer, fallback));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const { address, port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  // closeAllConnections: undici keeps sockets alive, and close() alone would wait for them.
  return { url: `http://${address}:${port}`, state, close: () => (closing ??= new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); })) };
}

async function handle(req: IncomingMessage, res: ServerResponse, requests: PlatformRequestRecord[], answer: (r: ControlRequestRecord, text: string) => StandInReply | undefined, fallback: string | undefined): Promise<void> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return void res.destroy();
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const header = (name: string) => (typeof req.headers[name] === 'string' ? req.headers[name] : undefined);
  const json = parseJson(text);
  const record = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), body: json?.value, idempotencyKey: header('idempotency-key'), authorization: header('authorization') };
  let reply: StandInReply | undefined;
  try {
    reply = json ? answer(record, text) : fail(400, 'invalid_json', 'the body is not JSON');
  } catch (error) {
    reply = fail(400, 'invalid_path', error instanceof Error ? error.message : String(error)); // a malformed %-escape in the path
  }
  if (reply === undefined) return forward(req, res, `${fallback ?? ''}${req.url ?? '/'}`, text); // only with a fallback
  requests.push({ ...record, atMs: Date.now() });
  res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body === undefined ? '' : JSON.stringify(reply.body));
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: text ? (JSON.parse(text) as unknown) : undefined };
  } catch {
    return undefined;
  }
}

/** Passes a request on to the stand-in that owns the rest of this host's API, and relays its answer. */
async function forward(req: IncomingMessage, res: ServerResponse, target: string, text: string): Promise<void> {
  const headers = Object.fromEntries(['accept', 'authorization', 'content-type', 'idempotency-key', 'user-agent', 'x-api-key'].flatMap((name) => (typeof req.headers[name] === 'string' ? [[name, req.headers[name]]] : [])));
  try {
    const response = await fetch(target, { method: req.method ?? 'GET', headers, ...(text ? { body: text } : {}), redirect: 'manual' });
    res.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await response.arrayBuffer()));
  } catch {
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'bad_gateway', message: `could not reach ${new URL(target).origin}` }));
  }
}

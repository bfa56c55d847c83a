/**
 * The sandbox the shipped runbooks run against: the host mapping (`SANDBOX_HOSTS`), the `http`
 * executor's `resolveUrl` seam, the generated `targets.yaml`, and the ML platform stand-ins'
 * contracts and scripted faults. In-process, no CLI.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpExecutor } from '../../src/executors/http.ts';
import { loadTargets, resolveTarget } from '../../src/executors/targets.ts';
import { createHostResolver, formatHostMapping, parseHostMapping, type HostMapping } from '../../src/sandbox/hosts.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createTestContext } from '../fixtures/executors/context.ts';

function mapping(raw: string): HostMapping {
  const parsed = parseHostMapping(raw);
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.mapping;
}

describe('SANDBOX_HOSTS', () => {
  describe('when given as pairs or as JSON', () => {
    it('maps each host, lower-cased, to its loopback base', () => {
      const pairs = mapping('Serving-Control.ml.internal=http://127.0.0.1:4100, metrics.ml.internal=http://127.0.0.1:4101/prefix/');
      expect([...pairs].map(([host, url]) => [host, url.href])).toEqual([
        ['serving-control.ml.internal', 'http://127.0.0.1:4100/'],
        ['metrics.ml.internal', 'http://127.0.0.1:4101/prefix/'],
      ]);
      expect(mapping('{"training.ml.internal":"http://localhost:4102"}').get('training.ml.internal')?.href).toBe('http://localhost:4102/');
      expect(formatHostMapping(pairs)).toBe('serving-control.ml.internal=http://127.0.0.1:4100,metrics.ml.internal=http://127.0.0.1:4101/prefix');
      expect(mapping('').size).toBe(0);
    });
  });

  describe('when it is wrong', () => {
    it('reports every problem at once, and never accepts a host beyond loopback', () => {
      const parsed = parseHostMapping('a.internal=https://127.0.0.1:1,b.internal=http://10.0.0.8:80,c.internal,bad host!=http://127.0.0.1:2,d.internal=http://u:p@127.0.0.1:3');
      expect(parsed.ok).toBe(false);
      const problems = parsed.ok ? [] : parsed.problems;
      expect(problems).toHaveLength(5);
      expect(problems[0]).toMatch(/a\.internal: expected a base URL such as http:\/\/127\.0\.0\.1:41234 \(http, no query, no credentials\), found "https:\/\/127\.0\.0\.1:1"/);
      expect(problems[1]).toMatch(/b\.internal: stand-ins listen on loopback only .* found 10\.0\.0\.8/);
      expect(problems[2]).toMatch(/expected host=http:\/\/127\.0\.0\.1:PORT pairs .* found "c\.internal"/);
      expect(problems[3]).toMatch(/expected a host name .* found "bad host!"/);
      expect(problems[4]).toMatch(/d\.internal: expected a base URL/);
      expect(parseHostMapping('{"a.internal": 8080').ok).toBe(false);
    });
  });

  describe('createHostResolver', () => {
    it('sends a mapped host to its base, keeping path and query, and leaves other URLs alone', () => {
      const resolve = createHostResolver(mapping('serving-control.ml.internal=http://127.0.0.1:4100,metrics.ml.internal=http://127.0.0.1:4101/prefix'));
      expect(resolve(new URL('https://serving-control.ml.internal/v1/models/m%20x/deployment?expect_version=v41#frag')).href).toBe('http://127.0.0.1:4100/v1/models/m%20x/deployment?expect_version=v41');
      expect(resolve(new URL('https://METRICS.ml.internal:443/api/v1/x')).href).toBe('http://127.0.0.1:4101/prefix/api/v1/x');
      const elsewhere = new URL('https://example.com/v1');
      expect(resolve(elsewhere)).toBe(elsewhere);
    });
  });
});

describe('the sandbox', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox.close());

  it('hands out an environment that points only at 127.0.0.1, with a targets file naming the stand-ins', () => {
    const urls = Object.values(sandbox.env).filter((value) => /^https?:\/\//.test(value));
    expect(urls.length).toBeGreaterThan(2);
    for (const url of urls) expect(new URL(url).hostname).toBe('127.0.0.1');
    expect(Object.keys(sandbox.hosts).sort()).toEqual([
      'feature-pipeline.ml.internal', 'feature-store.ml.internal', 'metrics.ml.internal', 'model-monitoring.ml.internal',
      'model-registry.ml.internal', 'serving-control.ml.internal', 'traffic-control.ml.internal', 'training.ml.internal',
    ]);
    const parsed = parseHostMapping(sandbox.env['SANDBOX_HOSTS'] ?? '');
    expect(parsed.ok && [...parsed.mapping.values()].every((url) => url.hostname === '127.0.0.1')).toBe(true);
    const targets = loadTargets(sandbox.targetsFile);
    const model = resolveTarget(targets, 'models', 'model-x').target;
    expect(model).toEqual({ backend: 'http', base_url: sandbox.hosts['serving-control.ml.internal'], auth_header_env: 'SERVING_API_TOKEN' });
    expect(resolveTarget(targets, 'services', 'inference-gateway').target).toMatchObject({ base_url: sandbox.hosts['traffic-control.ml.internal'] });
    expect(sandbox.env['SERVING_API_TOKEN']).toBeTruthy();
  });

  it('lets the http executor reach a production URL through resolveUrl while its output and allowlist keep that URL', async () => {
    const seen: string[] = [];
    const http = createHttpExecutor({ resolveUrl: createHostResolver(mapping(sandbox.env['SANDBOX_HOSTS'] ?? '')), allowHost: (url) => (seen.push(url.host), { allowed: true }) });
    const { ctx } = createTestContext();
    const output = await http.run({ method: 'GET', url: 'https://metrics.ml.internal/api/v1/models/model-x/latency', query: { window: '15m' }, expect: [200] }, ctx) as Record<string, unknown>;
    expect(output).toMatchObject({ model: 'model-x', window: '15m', p99_ms: 412, slo_p99_ms: 250, _http: { status: 200, url: 'https://metrics.ml.internal/api/v1/models/model-x/latency?window=15m' } });
    expect(seen).toEqual(['metrics.ml.internal']);
    expect(sandbox.state.platform.standIns.metrics.state.requestsTo('GET', '/api/v1/models/*/latency')).toHaveLength(1);
  });

  it('serves the serving control API’s replicas route beside the serving stand-in’s own routes', async () => {
    const base = sandbox.hosts['serving-control.ml.internal'] ?? '';
    const replicas = await fetch(`${base}/v1/models/model-x/replicas`);
    expect(await replicas.json()).toEqual({ model: 'model-x', version: 'v42', ready: 3, desired: 3, max: 6, restarts_last_hour: 0, pending: 0 });
    const deployment = await fetch(`${base}/v1/models/model-x/deployment`, { headers: { authorization: 'Bearer t' } });
    expect(await deployment.json()).toMatchObject({ version: 'v42', previous_version: 'v41' });
    expect(sandbox.state.serving.requests.at(-1)).toMatchObject({ path: '/v1/models/model-x/deployment', authorization: 'Bearer t' });
  });

  it('closes idempotently and removes the directory it created', async () => {
    const other = await startSandbox();
    await Promise.all([other.close(), other.close()]);
    expect(existsSync(other.targetsFile)).toBe(false);
  });
});

describe('the ML platform stand-ins', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ platform: { today: () => '2024-06-01' } });
  });
  afterAll(() => sandbox.close());
  const call = async (host: string, path: string, init: RequestInit = {}) => {
    const response = await fetch(`${sandbox.hosts[host] ?? ''}${path}`, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('resolve answers 409 when there is no earlier version and 404 for an unknown one', async () => {
    expect(await call('model-registry.ml.internal', '/v1/models/model-x/versions/resolve?version=previous&relative_to=v40')).toMatchObject({ status: 409, body: { error: 'no_previous_version' } });
    expect(await call('model-registry.ml.internal', '/v1/models/model-x/versions/resolve?version=v99')).toMatchObject({ status: 404 });
    expect(await call('model-registry.ml.internal', '/v1/models/model-x/versions/resolve?version=40')).toMatchObject({ status: 200, body: { version: 'v40', stage: 'archived' } });
  });

  it('the pipeline refuses ranges that end before they start, are too long or reach today, as the runbook says', async () => {
    const estimate = (from: string, to: string) => call('feature-pipeline.ml.internal', `/v1/datasets/features.user_activity_daily/backfills/estimate?from=${from}&to=${to}&partition=day`);
    expect((await estimate('2024-05-03', '2024-05-01')).status).toBe(422);
    expect((await estimate('2023-01-01', '2024-05-01')).body).toMatchObject({ error: 'range_too_long' });
    expect((await estimate('2024-05-30', '2024-06-01')).body).toMatchObject({ error: 'range_not_final' });
    expect((await call('feature-pipeline.ml.internal', '/v1/datasets/nope.table/backfills/estimate?from=2024-05-01&to=2024-05-02')).status).toBe(404);
  });

  it('counts only this backfill’s partitions (409 while some are missing), and replays a repeated Idempotency-Key', async () => {
    const write = (partition: string, key: string) => call('feature-pipeline.ml.internal', `/v1/datasets/features.user_activity_daily/partitions/${partition}/materialize`, {
      method: 'POST', headers: { 'idempotency-key': key }, body: JSON.stringify({ partition, code_version: 'pipeline-4f2c9e1', backfill_id: 'run-a', write_mode: 'overwrite', wait: true }),
    });
    const first = await write('2024-05-01', 'k1');
    expect(first.status).toBe(201);
    expect(await write('2024-05-01', 'k1')).toEqual(first);
    const partitions = '/v1/datasets/features.user_activity_daily/partitions?from=2024-05-01&to=2024-05-02&written_by=run-a&require_complete=true';
    expect(await call('feature-store.ml.internal', partitions)).toMatchObject({ status: 409, body: { partitions_complete: 1, partitions_expected: 2, missing: ['2024-05-02'] } });
    await write('2024-05-02', 'k2');
    expect(await call('feature-store.ml.internal', partitions)).toMatchObject({ status: 200, body: { partitions_complete: 2, snapshot_id: 'snap-0003' } });
  });

  it('fails the scripted route the given number of times, then answers normally; training deduplicates on external_id', async () => {
    const { training } = sandbox.state.platform.standIns;
    training.state.failRoute('/v1/pipelines/*/runs', 503, 1, 'POST');
    const start = () => call('training.ml.internal', '/v1/pipelines/model-x-training/runs', { method: 'POST', body: JSON.stringify({ model: 'model-x', external_id: 'run-b' }) });
    expect((await start()).status).toBe(503);
    const started = await start();
    expect(started).toMatchObject({ status: 201, body: { training_run_id: 'tr-00001', status: 'queued' } });
    expect(await start()).toMatchObject({ status: 200, body: { training_run_id: 'tr-00001' } });
    expect(await call('training.ml.internal', '/v1/pipelines/model-x-training/runs/by-external-id/run-b/cancel', { method: 'POST', body: '{}' })).toMatchObject({ status: 200, body: { status: 'cancelled' } });
    expect((await call('training.ml.internal', '/v1/pipelines/model-x-training/runs/by-external-id/run-zzz/cancel', { method: 'POST', body: '{}' })).status).toBe(404);
    expect(training.state.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'POST', 'POST', 'POST']);
  });
});

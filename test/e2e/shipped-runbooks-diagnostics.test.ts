/**
 * The diagnostic shipped runbooks (`diagnose-model-latency`, `respond-to-drift`), end to end as an
 * operator runs them (`runbook run runbooks/<file> --yes`) against the sandbox's stand-ins; see
 * `shipped-runbooks.test.ts` for how the processes, approvals and timers are driven.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createScenarioPool, describeResult, once, skipIfExecutorMissing, stepOf } from '../fixtures/sandbox/scenario.ts';

const E2E_TIMEOUT_MS = 300_000;

const pool = createScenarioPool();
afterAll(() => pool.cleanup(), 60_000);

describe('shipped diagnostic runbooks against the sandbox', { timeout: E2E_TIMEOUT_MS }, () => {
  describe.concurrent('diagnose-model-latency', () => {
    const diagnose = once(() => pool.runToEnd('diagnose-model-latency.md', { model: 'model-x' }));

    it('reads latency, errors and load over the window, the replicas and the deployment, with no approval', async () => {
      const { s, id, result } = await diagnose();
      const { metrics } = s.sandbox.state.platform.standIns;
      expect(metrics.state.requests.map((r) => [r.path, r.query]), describeResult(result)).toEqual([
        ['/api/v1/models/model-x/latency', { window: '15m', quantiles: '0.5,0.99', baseline: '7d' }],
        ['/api/v1/models/model-x/errors', { window: '15m' }],
        ['/api/v1/models/model-x/throughput', { window: '15m', baseline: '7d' }],
      ]);
      expect(s.sandbox.state.servingReplicas.state.requestsTo('GET', '/v1/models/model-x/replicas')).toHaveLength(1);
      expect(s.sandbox.state.serving.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/models/model-x/deployment']);
      const status = await s.status(id);
      expect(['latency', 'errors', 'load', 'replicas', 'deployment', 'hosts'].map((step) => [step, stepOf(status, step).status])).toEqual(
        ['latency', 'errors', 'load', 'replicas', 'deployment', 'hosts'].map((step) => [step, 'succeeded']));
      expect(result.stdout).not.toContain('waiting for an approver');
    });

    it('runs the read-only host commands through SSM on the model’s production hosts, the model passed as MODEL', async () => {
      const { s, result } = await diagnose();
      const sent = s.sandbox.state.ssm.requestsFor('SendCommand');
      expect(sent, describeResult(result)).toEqual([expect.objectContaining({
        DocumentName: 'AWS-RunShellScript',
        Targets: [{ Key: 'tag:ml-model', Values: ['model-x'] }, { Key: 'tag:environment', Values: ['production'] }],
        MaxConcurrency: '25%',
        MaxErrors: '100%',
      })]);
      const [command] = s.sandbox.state.ssm.commands;
      expect(command?.instanceIds).toHaveLength(3);
      const commands = command?.parameters['commands']?.join('\n') ?? '';
      expect(commands).toContain('nvidia-smi --query-gpu');
      expect(commands).toContain('model-server@${MODEL}');
      expect(commands).not.toMatch(/model-server@model-x/);
    });

    it('posts the findings to #ml-incidents and succeeds (exit 0)', async (ctx) => {
      const { s, result } = await diagnose();
      skipIfExecutorMissing(ctx, result);
      expect(result.code, describeResult(result)).toBe(0);
      const [findings, ...others] = s.sandbox.state.slack.messagesIn('#ml-incidents').map((m) => m.text);
      expect(others).toEqual([]);
      expect(findings).toMatch(/Latency diagnosis for model-x .*p99 412 ms\s+\(p50 38 ms, SLO 250 ms,\s+last week 180 ms\)/s);
      expect(findings).toMatch(/Replicas 3\/3\s+\(ceiling 6, pending 0/);
      expect(findings).toContain('Serving v42 since');
    });
  });

  describe.concurrent('respond-to-drift with significant drift', () => {
    const drift = once(() => pool.runToEnd('respond-to-drift.md', { model: 'model-x' }, { approvers: [['bob', '@ml-model-owners']] }));

    it('measures drift and quality over the window, and reads the owning team from the registry', async () => {
      const { s, result } = await drift();
      const { monitoring, registry } = s.sandbox.state.platform.standIns;
      expect(monitoring.state.requests.map((r) => [r.path, r.query]), describeResult(result)).toEqual([
        ['/v1/models/model-x/drift', { window: '24h', metric: 'psi' }],
        ['/v1/models/model-x/performance', { window: '24h' }],
      ]);
      expect(registry.state.requestsTo('GET', '/v1/models/model-x')).toHaveLength(1);
    });

    it('pages the owning team at low urgency, retrains once approved, announces, and succeeds (exit 0)', async (ctx) => {
      const { s, id, result } = await drift();
      skipIfExecutorMissing(ctx, result);
      expect(result.code, describeResult(result)).toBe(0);
      const incidents = s.sandbox.state.pagerduty.incidents;
      expect(incidents).toEqual([expect.objectContaining({ urgency: 'low', service: expect.objectContaining({ id: 'PRANK01' }) })]);
      expect(incidents[0]?.title).toContain('Significant input drift on model-x: PSI 0.31 (session_length_p95)');
      const { training } = s.sandbox.state.platform.standIns;
      const started = training.state.requestsTo('POST', '/v1/pipelines/model-x-training/runs');
      expect(started).toEqual([expect.objectContaining({ idempotencyKey: `${id}/retrain/do/1` })]);
      expect(started[0]?.body).toMatchObject({ model: 'model-x', external_id: id, reason: 'drift', data_window_end: 'yesterday', auto_promote: false });
      expect(s.sandbox.state.platform.world.trainingRuns.map((r) => r.status)).toEqual(['queued']);
      expect(stepOf(await s.status(id), 'approve').approvals.map((a) => a.id)).toEqual(['cli:bob']);
      expect(s.sandbox.state.slack.messagesIn('#ml-monitoring').map((m) => m.text)).toEqual([expect.stringMatching(/retraining run\s+tr-00001 started/)]);
    });
  });

  describe.concurrent('respond-to-drift with drift below the threshold', () => {
    const sandbox = { platform: { models: { 'model-x': { versions: ['v40', 'v41', 'v42'], reports: { drift: { psi: 0.08, top_feature_psi: 0.08, features_over_threshold: 0 } } } } } };
    const calm = once(() => pool.runToEnd('respond-to-drift.md', { model: 'model-x' }, { sandbox }));

    it('records the numbers in #ml-monitoring, pages nobody, starts no training, needs no approval, and succeeds (exit 0)', async (ctx) => {
      const { s, id, result } = await calm();
      skipIfExecutorMissing(ctx, result);
      expect(result.code, describeResult(result)).toBe(0);
      expect(s.sandbox.state.slack.messagesIn('#ml-monitoring').map((m) => m.text)).toEqual([expect.stringMatching(/max PSI\s+0\.08 \(session_length_p95\), below the 0\.2 action threshold/)]);
      expect(s.sandbox.state.pagerduty.incidents).toEqual([]);
      expect(s.sandbox.state.platform.world.trainingRuns).toEqual([]);
      const status = await s.status(id);
      expect(['page_owner', 'page_quality', 'approve', 'retrain', 'announce'].map((step) => stepOf(status, step).status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    });
  });
});

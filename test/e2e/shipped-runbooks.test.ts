/**
 * Every shipped runbook, run end to end as an operator runs it (`runbook run runbooks/<file> --yes`
 * in a child process) against the sandbox's loopback stand-ins, wired by configuration only
 * (SANDBOX_HOSTS, TARGETS_FILE, AWS_ENDPOINT_URL_SSM, SLACK_API_URL, PAGERDUTY_API_URL). Approvals
 * the requester may not give come from a second process (`runbook approve --as bob --groups …`),
 * and `wait` steps and retry backoffs are fired early by promoting their BullMQ timers.
 *
 * Assertions that need the `notify` or `page` executor are skipped, with the executor named, only
 * while a run stops at such a step with `executor_unavailable`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { SandboxOptions } from '../../src/sandbox/index.ts';
import { approveWhenAsked, createScenarioPool, describeResult, once, skipIfExecutorMissing, stepOf } from '../fixtures/sandbox/scenario.ts';

/** Two approvals, a 60 s settle in the failover executor, CLI processes booting tsx on two cores. */
const E2E_TIMEOUT_MS = 300_000;

const pool = createScenarioPool();
afterAll(() => pool.cleanup(), 60_000);

describe('shipped runbooks against the sandbox', { timeout: E2E_TIMEOUT_MS }, () => {
  describe.concurrent('rollback-model', () => {
    const rollback = once(() => pool.runToEnd('rollback-model.md', { model: 'model-x' }, { approvers: [['bob', '@ml-oncall-leads']] }));

    it('reads what serves, then asks the registry for the version before it', async () => {
      const { s } = await rollback();
      const [first] = s.sandbox.state.serving.requests;
      expect(first).toMatchObject({ method: 'GET', path: '/v1/models/model-x/deployment', query: {} });
      const resolves = s.sandbox.state.platform.standIns.registry.state.requestsTo('GET', '/v1/models/model-x/versions/resolve');
      expect(resolves.map((r) => r.query)).toEqual([{ version: 'previous', relative_to: 'v42' }]);
    });

    it('does not let the requester approve, and goes on once bob approves from another process', async () => {
      const { s, id, result } = await rollback();
      expect(result.stdout, describeResult(result)).toContain('does not allow self-approval');
      expect(result.stdout).toMatch(/✔ approve approved by bob/);
      expect(stepOf(await s.status(id), 'approve').approvals.map((a) => a.id)).toEqual(['cli:bob']);
    });

    it('switches serving to the resolved version with the attempt’s Idempotency-Key and the token from the environment, then verifies it', async () => {
      const { s, id, result } = await rollback();
      const { serving } = s.sandbox.state;
      const switches = serving.requests.filter((r) => r.method === 'POST');
      expect(switches, describeResult(result)).toEqual([expect.objectContaining({ path: '/v1/models/model-x/deployment', body: { version: 'v41' }, idempotencyKey: `${id}/rollback/do/1`, authorization: 'Bearer sandbox-serving-token' })]);
      expect(serving.servingVersion('model-x')).toBe('v41');
      expect(s.clock?.promoted).toContain('settle.wait');
      const verified = serving.requests.filter((r) => r.query['expect_version'] !== undefined);
      expect(verified.map((r) => r.query)).toContainEqual({ expect_version: 'v41', require_healthy: 'true' });
      expect(stepOf(await s.status(id), 'verify').status).toBe('succeeded');
    });

    it('announces the rollback in #ml-incidents and succeeds (exit 0)', async (ctx) => {
      const { s, result } = await rollback();
      skipIfExecutorMissing(ctx, result);
      expect(result.code, describeResult(result)).toBe(0);
      expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(/^✅ succeeded in /);
      expect(s.sandbox.state.slack.messagesIn('#ml-incidents').map((m) => m.text)).toEqual([expect.stringContaining('model-x rolled back from v42 to v41')]);
    });
  });

  describe.concurrent('rollback-model when the serving control API fails during the rollback', () => {
    const failing = once(() => pool.runToEnd('rollback-model.md', { model: 'model-x', version: 'v40' }, {
      approvers: [['bob', '@ml-platform-sre']],
      beforeApproval: (s) => s.sandbox.state.serving.failNext(3, 503), // the serving control API goes down once the checks are done
    }));

    it('retries the rollback twice, then rolls the run back (exit 3) without switching anything', async () => {
      const { s, id, result } = await failing();
      expect(result.code, describeResult(result)).toBe(3);
      expect(result.stdout).toMatch(/↩ rolled back after rollback: rollback_backend_unavailable/);
      expect(s.sandbox.state.serving.requests.some((r) => r.method === 'POST')).toBe(false);
      expect(s.sandbox.state.serving.servingVersion('model-x')).toBe('v42');
      expect(s.clock?.promoted).toEqual(expect.arrayContaining(['rollback.do.retry.1', 'rollback.do.retry.2']));
      const status = await s.status(id);
      expect(status.status).toBe('rolled_back');
      // The failed call's own undo ran first: rolling forward to what it found (v42) changed nothing.
      expect(stepOf(status, 'rollback')).toMatchObject({ status: 'undone', attempt: 3 });
      expect(stepOf(status, 'verify').status).toBe('pending');
    });
  });

  describe.concurrent('failover-region', () => {
    const params = { service: 'inference-gateway', from: 'us-east-1', to: 'us-west-2' };
    const approvers = [['bob', '@ml-oncall-leads'], ['carol', '@sre-incident-commanders']] as const;
    const failover = once(() => pool.runToEnd('failover-region.md', params, { approvers }));

    it('checks both regions, takes two approvers, and raises the target’s floor before any traffic moves', async () => {
      const { s, id, result } = await failover();
      const { traffic } = s.sandbox.state;
      expect(traffic.requests.slice(0, 3).map((r) => `${r.method} ${r.path}`), describeResult(result)).toEqual([
        'GET /v1/services/inference-gateway/regions/us-east-1',
        'GET /v1/services/inference-gateway/regions/us-west-2/health',
        'PUT /v1/services/inference-gateway/regions/us-west-2/autoscaling',
      ]);
      const prescale = traffic.requests[2];
      expect(Number((prescale?.body as { min_replicas?: unknown }).min_replicas)).toBe(6);
      expect(prescale).toMatchObject({ idempotencyKey: `${id}/prescale/do/1`, authorization: undefined });
      expect(stepOf(await s.status(id), 'approve').approvals.map((a) => a.id)).toEqual(['cli:bob', 'cli:carol']);
    });

    it('shifts 10%, 50%, 100% with a health check before each, verifies the source drained, and succeeds (exit 0)', async (ctx) => {
      const { s, id, result } = await failover();
      skipIfExecutorMissing(ctx, result);
      expect(result.code, describeResult(result)).toBe(0);
      const { traffic } = s.sandbox.state;
      const shifts = traffic.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/weights'));
      expect(shifts.map((r) => r.body)).toEqual([10, 50, 100].map((p) => ({ weights: { 'us-east-1': 100 - p, 'us-west-2': p } })));
      expect(shifts.map((r) => r.idempotencyKey)).toEqual([10, 50, 100].map((p) => `${id}/failover/do/1/shift/${p}`));
      expect(traffic.weightsOf('inference-gateway')).toEqual({ 'us-east-1': 0, 'us-west-2': 100 });
      expect(traffic.requests.filter((r) => r.query['expect_weight'] === '0')).not.toHaveLength(0);
      expect(s.clock?.promoted).toContain('settle.wait');
      expect(s.sandbox.state.slack.messagesIn('#ml-incidents').map((m) => m.text)).toEqual([
        expect.stringContaining('Failing inference-gateway over from us-east-1 to us-west-2'),
        expect.stringContaining('inference-gateway failed over to us-west-2'),
      ]);
    });
  });

  describe.concurrent('failover-region when the target turns unhealthy during the shift', () => {
    const options: SandboxOptions = { services: { 'inference-gateway': { weights: { 'us-east-1': 100, 'us-west-2': 0 }, regions: { 'us-west-2': { unhealthyAfterWeightChanges: 1 } } } } };
    const params = { service: 'inference-gateway', from: 'us-east-1', to: 'us-west-2' };
    const failing = once(() => pool.runToEnd('failover-region.md', params, { sandbox: options, approvers: [['bob', '@ml-oncall-leads'], ['carol', '@sre-incident-commanders']] }));

    it('rolls the run back (exit 3), undoing the completed steps newest first: the target’s floor goes back to what the health check found', async (ctx) => {
      const { s, id, result } = await failing();
      skipIfExecutorMissing(ctx, result);
      expect(result.code, describeResult(result)).toBe(3);
      // The half-done failover is undone first (traffic fails back), then the completed prescale.
      expect(result.stdout).toMatch(/↩ rolled back after failover: failover_stopped_unhealthy[^\n]*undone: failover, prescale/);
      const status = await s.status(id);
      expect(stepOf(status, 'failover').status).toBe('undone');
      // The undone steps, in document order; their undo calls must come in the reverse order.
      const undone = status.steps.filter((step) => step.status === 'undone').map((step) => step.id);
      expect(undone).toContain('prescale');
      const { requests } = s.sandbox.state.traffic;
      const undoCalls = requests.filter((r) => r.idempotencyKey?.startsWith(`${id}/`) && r.idempotencyKey.split('/')[2] === 'undo');
      const undoOrder = [...new Set(undoCalls.map((r) => r.idempotencyKey?.split('/')[1]))];
      expect(undoOrder).toEqual([...undone].reverse());
      const lastShift = requests.findLastIndex((r) => r.idempotencyKey?.includes('/failover/do/'));
      const floor = requests.findIndex((r) => r.idempotencyKey === `${id}/prescale/undo/1`);
      expect(floor).toBeGreaterThan(lastShift);
      expect(requests[floor]).toMatchObject({ method: 'PUT', path: '/v1/services/inference-gateway/regions/us-west-2/autoscaling', body: { min_replicas: 2 } });
    });
  });

  describe.concurrent('backfill-features', () => {
    const params = { dataset: 'features.user_activity_daily', from: '2024-05-01', to: '2024-05-03' };
    const backfill = once(() => pool.runToEnd('backfill-features.md', params, { approvers: [['bob', '@ml-data-oncall']] }));

    it('reads the dataset and the estimate, then materializes each day once with the pinned pipeline commit, tagged with the run', async () => {
      const { s, id, result } = await backfill();
      const { featureStore, featurePipeline } = s.sandbox.state.platform.standIns;
      expect(featureStore.state.requestsTo('GET', '/v1/datasets/features.user_activity_daily'), describeResult(result)).toHaveLength(1);
      expect(featurePipeline.state.requestsTo('GET', '/v1/datasets/*/backfills/estimate').map((r) => r.query)).toEqual([{ from: '2024-05-01', to: '2024-05-03', partition: 'day' }]);
      const writes = featurePipeline.state.requestsTo('POST', '/v1/datasets/features.user_activity_daily/partitions/*/materialize');
      expect(writes.map((r) => r.body).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), describeResult(result)).toEqual(['2024-05-01', '2024-05-02', '2024-05-03'].map((partition) => (
        { partition, code_version: 'pipeline-4f2c9e1', backfill_id: id, write_mode: 'overwrite', wait: true })));
      const verify = featureStore.state.requestsTo('GET', '/v1/datasets/*/partitions');
      expect(verify.map((r) => r.query)).toEqual([{ from: '2024-05-01', to: '2024-05-03', written_by: id, require_complete: 'true' }]);
      const status = await s.status(id);
      expect(['backfill', 'verify', 'quality'].map((step) => stepOf(status, step).status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      expect(stepOf(status, 'quality_failed').status).toBe('skipped');
    });

    it('announces the backfill in #ml-features and succeeds (exit 0)', async (ctx) => {
      const { s, result } = await backfill();
      skipIfExecutorMissing(ctx, result);
      expect(result.code, describeResult(result)).toBe(0);
      expect(s.sandbox.state.slack.messagesIn('#ml-features').map((m) => m.text)).toEqual([expect.stringMatching(/Backfilled features\.user_activity_daily from 2024-05-01 to 2024-05-03:\s+3 partitions/)]);
    });
  });

  describe.concurrent('backfill-features cancelled after the partitions were written', () => {
    it('rolls back on cancel: discards this run’s partitions and restores the snapshot found at the start (exit 5)', async ({ expect }) => {
      // Retry backoffs run their real course here: the run is cancelled while `verify` waits to retry.
      const s = await pool.start({ fastForward: { retries: false } });
      const { featureStore, featurePipeline } = s.sandbox.state.platform.standIns;
      featureStore.state.failRoute('/v1/datasets/*/partitions', 503, 3, 'GET');
      const run = s.run('backfill-features.md', { dataset: 'features.user_activity_daily', from: '2024-05-01', to: '2024-05-02' });
      const id = await run.id;
      await approveWhenAsked(s, run, [['bob', '@feature-store-owners']]);
      // `verify` met the outage and waits 30 s to retry: cancel now, with the partitions written.
      await expect.poll(() => featureStore.state.requestsTo('GET', '/v1/datasets/*/partitions').length, { timeout: 120_000 }).toBeGreaterThan(0);
      const cancelled = await s.cli.run(['cancel', id, '--reason', 'discard this backfill']);
      expect(cancelled.code, describeResult(cancelled)).toBe(0);
      const result = await run.process.done;
      expect(result.code, describeResult(result)).toBe(5);
      const discards = featurePipeline.state.requestsTo('POST', '/v1/datasets/features.user_activity_daily/backfills/*/discard');
      expect(discards).toEqual([expect.objectContaining({ path: `/v1/datasets/features.user_activity_daily/backfills/${id}/discard`, body: { from: '2024-05-01', to: '2024-05-02', restore_snapshot: 'snap-0001' }, idempotencyKey: `${id}/backfill/undo/1` })]);
      const dataset = s.sandbox.state.platform.world.datasets.get('features.user_activity_daily');
      expect(dataset?.snapshotId).toBe('snap-0001');
      expect([...(dataset?.partitions.values() ?? [])].map((w) => [w.partition, w.discarded]).sort()).toEqual([['2024-05-01', true], ['2024-05-02', true]]);
      expect(stepOf(await s.status(id), 'backfill').status).toBe('undone');
    });
  });
});

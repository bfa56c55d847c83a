/**
 * The `failover` executor against the loopback traffic manager stand-in (and, for the SSM backend,
 * the SSM stand-in with the real AWS SDK); nothing beyond 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFailoverExecutor, type FailoverExecutorOptions, type FailoverOutput } from '../../../src/executors/failover.ts';
import { clientTokenFor } from '../../../src/executors/ssm-automation.ts';
import { parseTargets } from '../../../src/executors/targets.ts';
import { createSsmClient } from '../../../src/integrations/ssm.ts';
import { startTrafficManagerStandIn, type ControlStandIn, type ServiceFixture, type TrafficManagerState } from '../../../src/sandbox/control-apis.ts';
import { startSsmStandIn } from '../../../src/sandbox/ssm.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const EAST = 'us-east-1';
const WEST = 'us-west-2';
const ARGS = { service: 'model-serving', from: EAST, to: WEST, shift: [10, 50, 100] };

async function traffic(fixture: ServiceFixture = { weights: { [EAST]: 100, [WEST]: 0 } }): Promise<ControlStandIn<TrafficManagerState>> {
  const standIn = await startTrafficManagerStandIn({ port: 0, services: { 'model-serving': fixture } });
  cleanups.push(() => standIn.close());
  return standIn;
}

function executorFor(standIn: ControlStandIn<TrafficManagerState>, options: Partial<FailoverExecutorOptions> = {}) {
  const targets = parseTargets(`services:\n  model-serving: { backend: http, base_url: "${standIn.url}" }\n`, 'targets.yaml');
  return createFailoverExecutor({ targets, stepSettleMs: 0, ...options });
}

const calls = (state: TrafficManagerState) => state.requests.map((r) => `${r.method} ${r.path}${r.method === 'PUT' ? ` ${JSON.stringify(r.body)}` : ''}`);
const puts = (state: TrafficManagerState) => state.requests.filter((r) => r.method === 'PUT');
const HEALTH = `GET /v1/services/model-serving/regions/${WEST}/health`;
const WEIGHTS = 'GET /v1/services/model-serving/weights';
const put = (east: number, west: number) => `PUT /v1/services/model-serving/weights ${JSON.stringify({ weights: { [EAST]: east, [WEST]: west } })}`;

describe('failover executor (HTTP backend)', () => {
  describe('when the target region is healthy', () => {
    it('shifts 10%, 50%, 100% with a health check of the target before each change', async () => {
      const standIn = await traffic();
      const { ctx } = createTestContext();
      const output = (await executorFor(standIn).run(ARGS, ctx)) as FailoverOutput;
      expect(calls(standIn.state)).toEqual([WEIGHTS, HEALTH, put(90, 10), HEALTH, put(50, 50), HEALTH, put(0, 100)]);
      expect(puts(standIn.state).map((r) => r.idempotencyKey)).toEqual([10, 50, 100].map((p) => `${ctx.idempotencyKey}/shift/${p}`));
      expect(output).toEqual({
        service: 'model-serving', target: 'model-serving', backend: 'http', from: EAST, to: WEST,
        initial_weights: { [EAST]: 100, [WEST]: 0 }, final_weights: { [EAST]: 0, [WEST]: 100 },
        steps: [
          { percent: 10, status: 'applied', weights: { [EAST]: 90, [WEST]: 10 } },
          { percent: 50, status: 'applied', weights: { [EAST]: 50, [WEST]: 50 } },
          { percent: 100, status: 'applied', weights: { [EAST]: 0, [WEST]: 100 } },
        ],
      });
    });

    it('leaves the weights of other regions alone', async () => {
      const standIn = await traffic({ weights: { [EAST]: 60, [WEST]: 20, 'eu-west-1': 20 } });
      const output = (await executorFor(standIn).run({ ...ARGS, shift: [50, 100] }, createTestContext().ctx)) as FailoverOutput;
      expect(output.steps.map((s) => s.weights)).toEqual([{ [EAST]: 40, [WEST]: 40, 'eu-west-1': 20 }, { [EAST]: 0, [WEST]: 80, 'eu-west-1': 20 }]);
      expect(standIn.state.weightsOf('model-serving')).toEqual({ [EAST]: 0, [WEST]: 80, 'eu-west-1': 20 });
    });
  });

  describe('when the target region is unhealthy', () => {
    it('refuses before any weight change with failover_target_unhealthy and the health answer', async () => {
      const standIn = await traffic({ weights: { [EAST]: 100, [WEST]: 0 }, regions: { [WEST]: { healthy: false, reason: 'gpu capacity lost' } } });
      const error = await rejectionOf(executorFor(standIn).run(ARGS, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'failover_target_unhealthy', retryable: false });
      expect(error.message).toContain('us-west-2 is not healthy for model-serving, so no traffic was moved');
      expect(error.message).toContain('"reason":"gpu capacity lost"');
      expect(calls(standIn.state)).toEqual([WEIGHTS, HEALTH]);
    });
  });

  describe('when the target region turns unhealthy mid-way', () => {
    it('stops, leaves traffic where it is and reports the weights reached', async () => {
      const standIn = await traffic({ weights: { [EAST]: 100, [WEST]: 0 }, regions: { [WEST]: { unhealthyAfterWeightChanges: 2 } } });
      const error = await rejectionOf(executorFor(standIn).run(ARGS, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'failover_stopped_unhealthy', retryable: false });
      expect(error.message).toContain('before the 100% step');
      expect(error.message).toContain(`traffic left at {"${EAST}":50,"${WEST}":50}`);
      expect(calls(standIn.state)).toEqual([WEIGHTS, HEALTH, put(90, 10), HEALTH, put(50, 50), HEALTH]);
      expect(standIn.state.weightsOf('model-serving')).toEqual({ [EAST]: 50, [WEST]: 50 });
    });
  });

  describe('when a call is repeated after a crash', () => {
    it('resumes from the current weights, skipping the steps already reached', async () => {
      const standIn = await traffic();
      let putsSeen = 0;
      // The worker "dies" right after the 50% change reached the traffic manager.
      const crashingFetch: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (init?.method === 'PUT' && (putsSeen += 1) === 2) throw new TypeError('fetch failed');
        return response;
      };
      const first = await rejectionOf(executorFor(standIn, { fetch: crashingFetch }).run(ARGS, createTestContext({ idempotencyKey: 'run-1/step-a/do/1' }).ctx));
      expect(first).toMatchObject({ code: 'failover_backend_unavailable', retryable: true });
      expect(first.message).toContain(`last confirmed weights {"${EAST}":90,"${WEST}":10}`);

      standIn.state.requests.length = 0;
      const { ctx } = createTestContext({ idempotencyKey: 'run-1/step-a/do/2', attempt: 2 });
      const output = (await executorFor(standIn).run(ARGS, ctx)) as FailoverOutput;
      expect(calls(standIn.state)).toEqual([WEIGHTS, HEALTH, put(0, 100)]);
      expect(output.initial_weights).toEqual({ [EAST]: 50, [WEST]: 50 });
      expect(output.steps.map((s) => `${s.percent}:${s.status}`)).toEqual(['10:already_reached', '50:already_reached', '100:applied']);

      // Once done, a further repeat changes nothing and checks nothing.
      standIn.state.requests.length = 0;
      const again = (await executorFor(standIn).run(ARGS, ctx)) as FailoverOutput;
      expect(calls(standIn.state)).toEqual([WEIGHTS]);
      expect(again.final_weights).toEqual({ [EAST]: 0, [WEST]: 100 });
    });
  });

  describe('when the run rolls back', () => {
    it('the undo, a failover back in one step, returns the traffic', async () => {
      const standIn = await traffic();
      const executor = executorFor(standIn);
      const { ctx } = createTestContext();
      await executor.run(ARGS, ctx);
      const undo = { service: 'model-serving', from: WEST, to: EAST, shift: [100] };
      const back = (await executor.run(undo, { ...ctx, phase: 'undo', idempotencyKey: 'run-1/step-a/undo/1' })) as FailoverOutput;
      expect(back.final_weights).toEqual({ [EAST]: 100, [WEST]: 0 });
    });
  });

  describe('when the service or a region is unknown', () => {
    it('fails with failover_region_unknown before any change', async () => {
      const standIn = await traffic();
      const error = await rejectionOf(executorFor(standIn).run({ ...ARGS, to: 'eu-west-1' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'failover_region_unknown', retryable: false });
      expect(puts(standIn.state)).toHaveLength(0);
    });
  });

  describe('plan', () => {
    it('names the service, regions, steps and backend without calling it', async () => {
      const standIn = await traffic();
      const [line] = executorFor(standIn).plan?.(ARGS) ?? [];
      expect(line).toBe(`failover model-serving us-east-1 → us-west-2 in steps 10%, 50%, 100% via http ${standIn.url} (targets.yaml:2:3 model-serving)`);
      expect(standIn.state.requests).toHaveLength(0);
    });
  });
});

describe('failover executor (SSM backend)', () => {
  it('starts the document once per step with Service, From, To and Percent, each keyed by the step', async () => {
    const ssm = await startSsmStandIn({ port: 0, completeAfterPolls: 1 });
    const client = createSsmClient({ endpoint: ssm.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    cleanups.push(() => ssm.close(), async () => client.destroy());
    const targets = parseTargets('services:\n  default: { backend: ssm, document: MlPlatform-ShiftTraffic }\n', 'targets.yaml');
    const executor = createFailoverExecutor({ targets, ssm: { client, pollIntervalMs: 5, maxPollIntervalMs: 20 } });
    const { ctx } = createTestContext();
    const output = (await executor.run({ ...ARGS, shift: [50, 100] }, ctx)) as FailoverOutput;
    expect(ssm.state.requestsFor('StartAutomationExecution')).toEqual([50, 100].map((p) => ({
      DocumentName: 'MlPlatform-ShiftTraffic', ClientToken: clientTokenFor(`${ctx.idempotencyKey}/shift/${p}`),
      Parameters: { Service: ['model-serving'], From: [EAST], To: [WEST], Percent: [String(p)] },
    })));
    expect(output).toMatchObject({ backend: 'ssm', steps: [{ percent: 50, status: 'applied' }, { percent: 100, status: 'applied' }] });
  });

  it('reports a failed step with failover_ssm_failed and where traffic was left', async () => {
    const ssm = await startSsmStandIn({ port: 0, completeAfterPolls: 1 });
    const client = createSsmClient({ endpoint: ssm.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    cleanups.push(() => ssm.close(), async () => client.destroy());
    const targets = parseTargets('services:\n  default: { backend: ssm, document: MlPlatform-ShiftTraffic }\n', 'targets.yaml');
    ssm.state.failNextAutomation('target region unhealthy');
    const error = await rejectionOf(createFailoverExecutor({ targets, ssm: { client, pollIntervalMs: 5 } }).run(ARGS, createTestContext().ctx));
    expect(error).toMatchObject({ code: 'failover_ssm_failed', retryable: false });
    expect(error.message).toContain('at the 10% step');
    expect(error.message).toContain('traffic unchanged');
  });
});

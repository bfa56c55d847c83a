/**
 * The `rollback` executor against the loopback serving control stand-in (and, for the SSM
 * backend, the SSM stand-in with the real AWS SDK); nothing beyond 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRollbackExecutor, type RollbackExecutorOptions, type RollbackOutput } from '../../../src/executors/rollback.ts';
import { clientTokenFor } from '../../../src/executors/ssm-automation.ts';
import { parseTargets } from '../../../src/executors/targets.ts';
import { createSsmClient } from '../../../src/integrations/ssm.ts';
import { startServingControlStandIn, type ControlStandIn, type ModelFixture, type ServingControlState } from '../../../src/sandbox/control-apis.ts';
import { startSsmStandIn } from '../../../src/sandbox/ssm.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

const TOKEN = 'tok-serving-5ecret';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serving(models?: Record<string, ModelFixture>): Promise<ControlStandIn<ServingControlState>> {
  const standIn = await startServingControlStandIn({ port: 0, models: models ?? { 'model-x': { history: ['v40', 'v41', 'v42'], versions: ['v39', 'v40', 'v41', 'v42'] } } });
  cleanups.push(() => standIn.close());
  return standIn;
}

function executorFor(standIn: ControlStandIn<ServingControlState>, options: Partial<RollbackExecutorOptions> = {}) {
  const targets = parseTargets(`models:\n  default: { backend: http, base_url: "${standIn.url}", auth_header_env: SERVING_API_TOKEN }\n`, 'targets.yaml');
  return createRollbackExecutor({ targets, env: { SERVING_API_TOKEN: TOKEN }, pollIntervalMs: 5, maxPollIntervalMs: 20, maxWaitMs: 5_000, ...options });
}

const calls = (state: ServingControlState) => state.requests.map((r) => `${r.method} ${r.path}`);
const posts = (state: ServingControlState) => state.requests.filter((r) => r.method === 'POST');

describe('rollback executor (HTTP backend)', () => {
  describe('when no version is named', () => {
    it('checks the previous version exists, switches to it and waits until it serves', async () => {
      const standIn = await serving();
      const { ctx } = createTestContext();
      const output = (await executorFor(standIn).run({ model: 'model-x', to: 'previous' }, ctx)) as RollbackOutput;
      expect(output).toEqual({
        model: 'model-x', target: 'default', backend: 'http', requested: 'previous',
        from_version: 'v42', to_version: 'v41', already_serving: false, converged_after_ms: expect.any(Number) as number,
      });
      expect(standIn.state.servingVersion('model-x')).toBe('v41');
      expect(calls(standIn.state)).toEqual([
        'GET /v1/models/model-x/deployment',
        'GET /v1/models/model-x/versions/v41',
        'POST /v1/models/model-x/deployment',
        'GET /v1/models/model-x/deployment',
        'GET /v1/models/model-x/deployment',
      ]);
      expect(posts(standIn.state)[0]).toMatchObject({ body: { version: 'v41' }, idempotencyKey: ctx.idempotencyKey, authorization: `Bearer ${TOKEN}` });
    });
  });

  describe('when a version is named', () => {
    it('switches to that version', async () => {
      const standIn = await serving();
      const { ctx } = createTestContext();
      const output = (await executorFor(standIn).run({ model: 'model-x', to: 'v39' }, ctx)) as RollbackOutput;
      expect(output).toMatchObject({ from_version: 'v42', to_version: 'v39', already_serving: false });
      expect(standIn.state.servingVersion('model-x')).toBe('v39');
    });

    it('fails with rollback_version_not_found, not retryable, when it does not exist, and changes nothing', async () => {
      const standIn = await serving();
      const { ctx } = createTestContext();
      const error = await rejectionOf(executorFor(standIn).run({ model: 'model-x', to: 'v7' }, ctx));
      expect(error).toMatchObject({ code: 'rollback_version_not_found', retryable: false });
      expect(error.message).toContain('model-x has no version v7');
      expect(posts(standIn.state)).toHaveLength(0);
    });
  });

  describe('when the rollout never converges', () => {
    it('fails with rollback_not_converged after maxWaitMs, saying what serves', async () => {
      const standIn = await serving({ 'model-x': { history: ['v41', 'v42'], neverConverges: true } });
      const { ctx } = createTestContext();
      const started = Date.now();
      const error = await rejectionOf(executorFor(standIn, { maxWaitMs: 150 }).run({ model: 'model-x' }, ctx));
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(error).toMatchObject({ code: 'rollback_not_converged', retryable: false });
      expect(error.message).toMatch(/^model-x did not report v41 within 150 ms \(maxWaitMs, \d+ reads\); last seen serving v42, rolling out v41$/);
    });

    it('fails with rollback_not_converged when the call is aborted while waiting', async () => {
      const standIn = await serving({ 'model-x': { history: ['v41', 'v42'], neverConverges: true } });
      const { ctx, controller } = createTestContext();
      setTimeout(() => controller.abort(), 50);
      const error = await rejectionOf(executorFor(standIn, { maxWaitMs: 60_000 }).run({ model: 'model-x' }, ctx));
      expect(error).toMatchObject({ code: 'rollback_not_converged' });
      expect(error.message).toContain('before the call was aborted');
    });
  });

  describe('when the call is repeated after it succeeded', () => {
    it('switches once, whether the attempt is redelivered or retried, and reports the version first found', async () => {
      const standIn = await serving();
      const executor = executorFor(standIn);
      const first = createTestContext({ idempotencyKey: 'run-1/step-a/do/1', attempt: 1 });
      await executor.run({ model: 'model-x' }, first.ctx);
      const redelivered = (await executor.run({ model: 'model-x' }, first.ctx)) as RollbackOutput;
      const retried = (await executor.run({ model: 'model-x' }, createTestContext({ idempotencyKey: 'run-1/step-a/do/2', attempt: 2 }).ctx)) as RollbackOutput;
      for (const output of [redelivered, retried]) expect(output).toMatchObject({ from_version: 'v42', to_version: 'v41', already_serving: true });
      expect(posts(standIn.state)).toHaveLength(1);
      expect(standIn.state.servingVersion('model-x')).toBe('v41');
    });

    it('does not switch when the model already serves the named version', async () => {
      const standIn = await serving();
      const { ctx } = createTestContext();
      const output = (await executorFor(standIn).run({ model: 'model-x', to: 'v42' }, ctx)) as RollbackOutput;
      expect(output).toMatchObject({ from_version: 'v42', to_version: 'v42', already_serving: true, converged_after_ms: 0 });
      expect(posts(standIn.state)).toHaveLength(0);
    });

    it('waits for a rollout an earlier attempt started instead of starting another', async () => {
      const standIn = await serving({ 'model-x': { history: ['v41', 'v42'], convergeAfterReads: 3 } });
      const executor = executorFor(standIn, { maxWaitMs: 5 });
      await rejectionOf(executor.run({ model: 'model-x' }, createTestContext({ idempotencyKey: 'run-1/step-a/do/1' }).ctx));
      const output = (await executorFor(standIn).run({ model: 'model-x' }, createTestContext({ idempotencyKey: 'run-1/step-a/do/2', attempt: 2 }).ctx)) as RollbackOutput;
      expect(output).toMatchObject({ from_version: 'v42', to_version: 'v41', already_serving: false });
      expect(posts(standIn.state)).toHaveLength(1);
    });
  });

  describe('when the run rolls back', () => {
    it('the undo, rollback to from_version, rolls forward to the version found', async () => {
      const standIn = await serving();
      const executor = executorFor(standIn);
      const { ctx } = createTestContext();
      const done = (await executor.run({ model: 'model-x' }, ctx)) as RollbackOutput;
      const undoCtx = { ...ctx, phase: 'undo' as const, idempotencyKey: 'run-1/step-a/undo/1' };
      const undone = (await executor.run({ model: 'model-x', to: done.from_version }, undoCtx)) as RollbackOutput;
      expect(undone).toMatchObject({ from_version: 'v41', to_version: 'v42', already_serving: false });
      expect(standIn.state.servingVersion('model-x')).toBe('v42');
      expect(posts(standIn.state).map((r) => [r.body, r.idempotencyKey])).toEqual([[{ version: 'v41' }, 'run-1/step-a/do/1'], [{ version: 'v42' }, 'run-1/step-a/undo/1']]);
    });
  });

  describe('when the backend misbehaves', () => {
    it('reports an unknown model as rollback_model_not_found', async () => {
      const standIn = await serving();
      const error = await rejectionOf(executorFor(standIn).run({ model: 'model-y' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'rollback_model_not_found', retryable: false });
    });

    it('reports a 503 as retryable rollback_backend_unavailable', async () => {
      const standIn = await serving();
      standIn.state.failNext(1, 503);
      const error = await rejectionOf(executorFor(standIn).run({ model: 'model-x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'rollback_backend_unavailable', retryable: true });
    });

    it('fails with targets_secret_missing, naming the variable, when the token is not set', async () => {
      const standIn = await serving();
      const error = await rejectionOf(executorFor(standIn, { env: {} }).run({ model: 'model-x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'targets_secret_missing', retryable: false });
      expect(error.message).toContain('SERVING_API_TOKEN');
      expect(standIn.state.requests).toHaveLength(0);
    });
  });

  describe('plan', () => {
    it('names the model, the version and the backend without calling it', async () => {
      const standIn = await serving();
      const lines = executorFor(standIn).plan?.({ model: 'model-x', to: 'v41' }) ?? [];
      expect(lines[0]).toBe(`rollback model-x → v41 via http ${standIn.url} (targets.yaml:2:3 default)`);
      expect(standIn.state.requests).toHaveLength(0);
    });
  });
});

describe('rollback executor (SSM backend)', () => {
  it('starts the configured document with Model and Version, keyed by the attempt, and reads its outputs', async () => {
    const ssm = await startSsmStandIn({ port: 0, completeAfterPolls: 2 });
    const client = createSsmClient({ endpoint: ssm.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    cleanups.push(() => ssm.close(), async () => client.destroy());
    const targets = parseTargets('models:\n  model-batch: { backend: ssm, document: MlPlatform-RollbackModel, parameters: { Environment: prod } }\n', 'targets.yaml');
    const executor = createRollbackExecutor({ targets, ssm: { client, pollIntervalMs: 5, maxPollIntervalMs: 20 } });
    const { ctx, logs } = createTestContext();
    const output = (await executor.run({ model: 'model-batch', to: 'v41' }, ctx)) as RollbackOutput;
    expect(ssm.state.requestsFor('StartAutomationExecution')).toEqual([{
      DocumentName: 'MlPlatform-RollbackModel', ClientToken: clientTokenFor(ctx.idempotencyKey),
      Parameters: { Environment: ['prod'], Model: ['model-batch'], Version: ['v41'] },
    }]);
    // The stand-in's document reports its parameters only, not FromVersion: the output says so.
    expect(output).toMatchObject({ backend: 'ssm', target: 'model-batch', to_version: 'v41', from_version: null, already_serving: false });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringContaining('no FromVersion') as string }));
  });
});

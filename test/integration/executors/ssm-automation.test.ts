/**
 * The `ssm-automation` executor with the real `@aws-sdk/client-ssm` over HTTP against the loopback
 * stand-in (static fake credentials, us-east-1, nothing beyond 127.0.0.1).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSsmHarnesses, executorFailureOf, ssmContext, SSM_TEST_SECRET, startSsmHarness } from '../../fixtures/executors/ssm.ts';
import { clientTokenFor, createSsmAutomationExecutor } from '../../../src/executors/ssm-automation.ts';

const SECRET = SSM_TEST_SECRET;
const RESTART = { document: 'AWS-RestartEC2Instance', parameters: { InstanceId: ['i-0a1b2c3d4e5f60001'] } };

afterEach(closeSsmHarnesses);

const harness = (completeAfterPolls?: number) => startSsmHarness(completeAfterPolls === undefined ? {} : { completeAfterPolls });
const contextFor = (options: { key?: string; signal?: AbortSignal } = {}) => ssmContext('restart', options);
const failureOf = executorFailureOf;

interface Output {
  executionId: string;
  status: string;
  outputs: Record<string, string[]>;
  steps: { name: string; status: string }[];
}

describe('ssm-automation executor', () => {
  describe('when the execution succeeds', () => {
    it('returns its outputs and steps, started with a ClientToken derived from the key', async () => {
      const { standIn, options } = await harness();
      const ctx = contextFor();
      const output = (await createSsmAutomationExecutor(options).run(RESTART, ctx)) as Output;
      expect(output).toMatchObject({ status: 'Success', steps: [{ name: 'main', status: 'Success' }] });
      expect(output.outputs['main.Result']).toEqual([JSON.stringify(RESTART.parameters)]);
      expect(standIn.state.requestsFor('StartAutomationExecution')).toEqual([
        { DocumentName: 'AWS-RestartEC2Instance', Parameters: RESTART.parameters, ClientToken: clientTokenFor(ctx.idempotencyKey) },
      ]);
    });
  });

  describe('when the same attempt is delivered again', () => {
    it('rejoins the same execution through the ClientToken', async () => {
      const { standIn, options } = await harness();
      const key = `run-${randomUUID()}/restart/do/1`;
      const first = (await createSsmAutomationExecutor(options).run(RESTART, contextFor({ key }))) as Output;
      const again = (await createSsmAutomationExecutor(options).run(RESTART, contextFor({ key }))) as Output;
      expect(again.executionId).toBe(first.executionId);
      const tokens = standIn.state.requestsFor('StartAutomationExecution').map((body) => body['ClientToken']);
      expect(tokens).toEqual([clientTokenFor(key), clientTokenFor(key)]);
    });

    it('fails with ssm_idempotency_mismatch when the parameters differ', async () => {
      const { options } = await harness();
      const key = `run-${randomUUID()}/restart/do/1`;
      await createSsmAutomationExecutor(options).run(RESTART, contextFor({ key }));
      const error = await failureOf(createSsmAutomationExecutor(options).run({ ...RESTART, parameters: { InstanceId: ['i-0a1b2c3d4e5f60002'] } }, contextFor({ key })));
      expect(error).toMatchObject({ code: 'ssm_idempotency_mismatch', retryable: false });
    });
  });

  describe('when the execution fails', () => {
    it('fails with ssm_automation_failed carrying the failure message, redacted', async () => {
      const { standIn, options } = await harness();
      standIn.state.failNextAutomation(`Step main failed: bad token ${SECRET}`);
      const error = await failureOf(createSsmAutomationExecutor(options).run(RESTART, contextFor()));
      expect(error).toMatchObject({ code: 'ssm_automation_failed', retryable: false });
      expect(error.message).toMatch(/ended Failed: Step main failed: bad token \[redacted\]/);
      expect(error.message).not.toContain(SECRET);
    });
  });

  describe('when SSM throttles the start and the polls', () => {
    it('waits and succeeds with one execution', async () => {
      const { standIn, options } = await harness();
      standIn.state.throttleNext(3);
      const output = (await createSsmAutomationExecutor(options).run(RESTART, contextFor())) as Output;
      expect(output.status).toBe('Success');
      expect(standIn.state.requests.filter((r) => r.outcome === 'throttled')).toHaveLength(3);
    });
  });

  describe('when the run is aborted while the execution runs', () => {
    it('stops polling and stops the execution', async () => {
      const { standIn, options } = await harness(1_000_000);
      const controller = new AbortController();
      const running = createSsmAutomationExecutor(options).run(RESTART, contextFor({ signal: controller.signal }));
      while (standIn.state.requestsFor('GetAutomationExecution').length < 3) await new Promise((resolve) => setTimeout(resolve, 2));
      controller.abort();
      await expect(running).rejects.toMatchObject({ name: 'AbortError' });
      const seen = standIn.state.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(standIn.state.requests.length).toBe(seen);
      expect(standIn.state.requestsFor('StopAutomationExecution')).toHaveLength(1);
    });
  });
});

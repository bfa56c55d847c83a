import { describe, expect, it } from 'vitest';
import { createPageExecutor, incidentKeyFor, renderDetails } from '../../../src/executors/page.ts';
import { createPagerDutyClient, pagerDutyOptionsFromEnv } from '../../../src/integrations/pagerduty.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

// Never contacted: plan() and argument checks send no request.
const offline = createPagerDutyClient({ token: 'pd-test-token', from: 'bot@example.com', apiUrl: 'http://127.0.0.1:9' });

describe('page executor', () => {
  describe('plan', () => {
    const plan = (input: unknown) => createPageExecutor({ pagerduty: offline }).plan?.(input)[0];

    it('shows the service, urgency and title', () => {
      expect(plan({ service: 'model-serving', urgency: 'high', title: 'model-x is down' })).toBe('page service model-serving (high): "model-x is down"');
    });

    it('shows an escalation policy and the default urgency', () => {
      expect(plan({ escalation_policy: 'PABC123', title: 't' })).toBe('page escalation policy PABC123 (the service\'s default urgency): "t"');
    });
  });

  describe('when the arguments are invalid', () => {
    it('fails with executor_input_invalid when neither service nor escalation_policy is given', async () => {
      const error = await rejectionOf(createPageExecutor({ pagerduty: offline }).run({ title: 't' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'executor_input_invalid', retryable: false });
      expect(error.message).toContain('service');
    });

    it('refuses a service whose template was never resolved', async () => {
      const error = await rejectionOf(createPageExecutor({ pagerduty: offline }).run({ service: '{{ params.svc }}', title: 't' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'executor_input_invalid', retryable: false });
    });
  });

  describe('incidentKeyFor', () => {
    const ctx = createTestContext({ idempotencyKey: 'run-1/step-a/do/1', attempt: 1 }).ctx;

    it('is the same for every attempt of a step execution', () => {
      const retry = createTestContext({ idempotencyKey: 'run-1/step-a/do/2', attempt: 2 }).ctx;
      expect(incidentKeyFor(retry)).toBe(incidentKeyFor(ctx));
      expect(incidentKeyFor(ctx)).toMatch(/^runbook-[0-9a-f]{32}$/);
    });

    it('differs between runs, steps and phases', () => {
      const keys = new Set([incidentKeyFor(ctx), incidentKeyFor({ ...ctx, runId: 'run-2' }), incidentKeyFor({ ...ctx, stepId: 'b' }), incidentKeyFor({ ...ctx, phase: 'undo' })]);
      expect(keys.size).toBe(4);
    });
  });

  describe('renderDetails', () => {
    it('keeps text and renders a mapping as key: value lines', () => {
      expect(renderDetails('as is')).toBe('as is');
      expect(renderDetails({ model: 'model-x', p99_ms: 870, tags: ['a'] })).toBe('model: model-x\np99_ms: 870\ntags: ["a"]');
    });
  });

  describe('when the client throws something unexpected', () => {
    it('reports page_failed, retryable, with secrets redacted', async () => {
      const pagerduty = { ...offline, resolveServiceId: async () => { throw new Error('boom hunter2'); } };
      const error = await rejectionOf(createPageExecutor({ pagerduty }).run({ service: 'svc', title: 't' }, createTestContext({ secrets: ['hunter2'] }).ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: true });
      expect(error.message).toContain('boom [redacted]');
    });
  });
});

describe('pagerDutyOptionsFromEnv', () => {
  it('is unset without PAGERDUTY_TOKEN', () => {
    expect(pagerDutyOptionsFromEnv({})).toEqual({ options: undefined, problems: [] });
  });

  it('takes token, From and PAGERDUTY_API_URL', () => {
    expect(pagerDutyOptionsFromEnv({ PAGERDUTY_TOKEN: 't', PAGERDUTY_FROM: 'bot@example.com', PAGERDUTY_API_URL: 'http://127.0.0.1:9' }))
      .toEqual({ options: { token: 't', from: 'bot@example.com', apiUrl: 'http://127.0.0.1:9' }, problems: [] });
  });

  it('requires PAGERDUTY_FROM with a token, without echoing the token', () => {
    const { options, problems } = pagerDutyOptionsFromEnv({ PAGERDUTY_TOKEN: 'pd-secret' });
    expect(options).toBeUndefined();
    expect(problems[0]).toContain('PAGERDUTY_FROM');
    expect(problems.join('')).not.toContain('pd-secret');
  });
});

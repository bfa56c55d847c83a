/**
 * The `page` executor with the real `@pagerduty/pdjs` over HTTP against the loopback PagerDuty
 * stand-in (nothing beyond 127.0.0.1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPageExecutor, incidentKeyFor, type PageExecutorOptions } from '../../../src/executors/page.ts';
import { createPagerDutyClient, type PagerDutyClient } from '../../../src/integrations/pagerduty.ts';
import { startPagerDutyStandIn, type PagerDutyStandIn } from '../../../src/sandbox/pagerduty.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

const FROM = 'runbook-bot@example.com';
const PAGE = { service: 'model-serving', title: 'model-x p99 latency above SLO', urgency: 'high', details: { model: 'model-x', p99_ms: 870 } };

const open: PagerDutyStandIn[] = [];
afterEach(async () => {
  for (const standIn of open.splice(0)) await standIn.close();
});

async function harness(options: { token?: string; from?: string; page?: Partial<PageExecutorOptions> } = {}) {
  const standIn = await startPagerDutyStandIn({ port: 0 });
  open.push(standIn);
  // retryTimeout 10 ms: pdjs waits 20 s between its 429 retries by default.
  const pagerduty: PagerDutyClient = createPagerDutyClient({ token: options.token ?? 'pd-test-token', from: options.from ?? FROM, apiUrl: standIn.url, rateLimitRetryDelayMs: 10, timeoutMs: 5_000 });
  return { standIn, pagerduty, executor: createPageExecutor({ pagerduty, ...options.page }) };
}

describe('page executor', () => {
  describe('when the service exists', () => {
    it('opens one incident with the From header, the token and a key derived from the step', async () => {
      const { standIn, executor } = await harness();
      const { ctx } = createTestContext({ idempotencyKey: 'run-1/step-a/do/1' });
      const output = await executor.run(PAGE, ctx);
      const [incident] = standIn.state.incidents;
      expect(output).toEqual({ incident_id: incident?.id, incident_number: 1, html_url: `${standIn.url}/incidents/${incident?.id}`, status: 'triggered', adopted: false });
      const [create, ...more] = standIn.state.callsTo('POST', '/incidents');
      expect(more).toHaveLength(0);
      expect(create?.from).toBe(FROM);
      expect(create?.status).toBe(201);
      expect(create?.body).toEqual({
        incident: {
          type: 'incident', title: PAGE.title, service: { id: 'PSVC001', type: 'service_reference' }, urgency: 'high',
          incident_key: incidentKeyFor(ctx), body: { type: 'incident_body', details: 'model: model-x\np99_ms: 870' },
        },
      });
    });

    it('replaces secret values in the title and details', async () => {
      const { standIn, executor } = await harness();
      await executor.run({ ...PAGE, title: 'leak hunter2', details: 'also hunter2' }, createTestContext({ secrets: ['hunter2'] }).ctx);
      expect(standIn.state.incidents[0]).toMatchObject({ title: 'leak [redacted]', details: 'also [redacted]' });
    });
  });

  describe('when the same step is paged again (redelivery or a later attempt)', () => {
    it('adopts the open incident: one incident in PagerDuty', async () => {
      const { standIn, executor } = await harness();
      const first = await executor.run(PAGE, createTestContext({ idempotencyKey: 'run-1/step-a/do/1', attempt: 1 }).ctx);
      const redelivered = await executor.run(PAGE, createTestContext({ idempotencyKey: 'run-1/step-a/do/1', attempt: 1 }).ctx);
      const retried = await executor.run(PAGE, createTestContext({ idempotencyKey: 'run-1/step-a/do/2', attempt: 2 }).ctx);
      expect(redelivered).toEqual({ ...(first as object), adopted: true });
      expect(retried).toEqual({ ...(first as object), adopted: true });
      expect(standIn.state.incidents).toHaveLength(1);
    });

    it('opens a new incident once the first one is resolved', async () => {
      const { standIn, pagerduty, executor } = await harness();
      const first = (await executor.run(PAGE, createTestContext().ctx)) as { incident_id: string };
      await pagerduty.updateIncident(first.incident_id, { status: 'resolved', resolution: 'rolled back' });
      expect(await executor.run(PAGE, createTestContext().ctx)).toMatchObject({ adopted: false, incident_number: 2 });
      expect(standIn.state.incidents.map((i) => i.status)).toEqual(['resolved', 'triggered']);
    });
  });

  describe('when the reply to the create is lost', () => {
    it('fails retryable, and the retry adopts the incident the first call made', async () => {
      const { standIn, executor } = await harness();
      standIn.state.dropNextReply('POST', '/incidents');
      const error = await rejectionOf(executor.run(PAGE, createTestContext({ idempotencyKey: 'run-1/step-a/do/1', attempt: 1 }).ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: true });
      const retried = await executor.run(PAGE, createTestContext({ idempotencyKey: 'run-1/step-a/do/2', attempt: 2 }).ctx);
      expect(retried).toMatchObject({ incident_id: standIn.state.incidents[0]?.id, adopted: true });
      expect(standIn.state.incidents).toHaveLength(1);
    });
  });

  describe('when PagerDuty refuses the request (4xx)', () => {
    it('fails with page_failed, not retryable, quoting the API message', async () => {
      const { executor } = await harness();
      const error = await rejectionOf(executor.run({ ...PAGE, service: 'PNOPE99' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: false });
      expect(error.message).toContain('400');
      expect(error.message).toContain('Service PNOPE99 not found');
    });

    it('fails, not retryable, when no service has the name', async () => {
      const { executor } = await harness();
      const error = await rejectionOf(executor.run({ ...PAGE, service: 'no-such-service' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: false });
      expect(error.message).toContain('no service named "no-such-service"');
    });

    it('fails, not retryable, when the token is refused (401)', async () => {
      const { executor } = await harness({ token: 'wrong' });
      const error = await rejectionOf(executor.run(PAGE, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: false });
      expect(error.message).toContain('401');
    });

    it('fails, not retryable, when From is not an email (PagerDuty requires it on writes)', async () => {
      const { executor } = await harness({ from: 'not-an-email' });
      const error = await rejectionOf(executor.run(PAGE, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: false });
      expect(error.message).toContain('From header');
    });
  });

  describe('when PagerDuty fails (5xx)', () => {
    it('fails with page_failed, retryable', async () => {
      const { standIn, executor } = await harness();
      standIn.state.failNext(1, 500, { method: 'POST', path: '/incidents' });
      const error = await rejectionOf(executor.run(PAGE, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: true });
      expect(error.message).toContain('500');
      expect(standIn.state.incidents).toHaveLength(0);
    });
  });

  describe('when PagerDuty rate limits (429)', () => {
    it('lets pdjs retry after retryTimeout and succeeds', async () => {
      const { standIn, executor } = await harness();
      standIn.state.rateLimitNext(1);
      expect(await executor.run(PAGE, createTestContext().ctx)).toMatchObject({ adopted: false });
      expect(standIn.state.calls.map((c) => c.status)).toEqual([429, 200, 201]);
    });

    it('fails retryable when the limit outlasts pdjs\'s three retries', async () => {
      const { standIn, executor } = await harness();
      standIn.state.rateLimitNext(4);
      const error = await rejectionOf(executor.run(PAGE, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: true });
      expect(error.message).toContain('429');
    });
  });

  describe('when only an escalation policy is named', () => {
    it('opens the incident on the default service with that policy', async () => {
      const { standIn, executor } = await harness({ page: { defaultService: 'feature-pipeline' } });
      await executor.run({ escalation_policy: 'PABC123', title: 'approval waited 20m' }, createTestContext().ctx);
      expect(standIn.state.incidents[0]).toMatchObject({ service: { id: 'PSVC002' }, escalation_policy: { id: 'PABC123' } });
    });

    it('fails, not retryable, without a default service', async () => {
      const { standIn, executor } = await harness();
      const error = await rejectionOf(executor.run({ escalation_policy: 'PABC123', title: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'page_failed', retryable: false });
      expect(standIn.state.calls).toHaveLength(0);
    });
  });

  describe('when the step is aborted', () => {
    it('rejects with an AbortError and opens nothing', async () => {
      const { standIn, executor } = await harness();
      const { ctx, controller } = createTestContext();
      controller.abort();
      expect((await rejectionOf(executor.run(PAGE, ctx))).name).toBe('AbortError');
      expect(standIn.state.incidents).toHaveLength(0);
    });
  });
});

describe('page executor escalating an existing incident', () => {
  async function opened() {
    const h = await harness();
    const first = (await h.executor.run(PAGE, createTestContext({ idempotencyKey: 'run-1/open/do/1' }).ctx)) as { incident_id: string };
    return { ...h, incidentId: first.incident_id };
  }

  describe('when it names a level', () => {
    it('raises the incident to that level, and a redelivery leaves it there', async () => {
      const { standIn, executor, incidentId } = await opened();
      const ctx = createTestContext({ idempotencyKey: 'run-1/escalate/do/1' }).ctx;
      expect(await executor.run({ incident: incidentId, escalation_level: 2 }, ctx)).toMatchObject({ incident_id: incidentId, escalation_level: 2, escalated: true });
      await executor.run({ incident: incidentId, escalation_level: 2 }, ctx);
      expect(standIn.state.incidents[0]?.escalation_level).toBe(2);
      const puts = standIn.state.callsTo('PUT', `/incidents/${incidentId}`);
      expect(puts.map((c) => c.body)).toEqual([{ incident: { type: 'incident_reference', escalation_level: 2 } }, { incident: { type: 'incident_reference', escalation_level: 2 } }]);
      expect(puts.every((c) => c.from === FROM)).toBe(true);
    });
  });

  describe('when it names another escalation policy', () => {
    it('hands the incident to that policy', async () => {
      const { standIn, executor, incidentId } = await opened();
      await executor.run({ incident: incidentId, escalation_policy: 'PABC123' }, createTestContext().ctx);
      expect(standIn.state.incidents[0]).toMatchObject({ escalation_policy: { id: 'PABC123' }, escalation_level: 1 });
    });
  });

  describe('when PagerDuty refuses', () => {
    it('fails with page_failed, not retryable, for an unknown incident or a level the policy lacks', async () => {
      const { executor, incidentId } = await opened();
      expect(await rejectionOf(executor.run({ incident: 'QNOSUCH1', escalation_level: 2 }, createTestContext().ctx))).toMatchObject({ code: 'page_failed', retryable: false });
      expect(await rejectionOf(executor.run({ incident: incidentId, escalation_level: 9 }, createTestContext().ctx))).toMatchObject({ code: 'page_failed', retryable: false });
    });
  });
});

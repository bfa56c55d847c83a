import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOnLoopback, type LoopbackServer } from '../../../src/sandbox/loopback-server.ts';
import { composeObservers } from '../../../src/observability/observer.ts';
import { createTracing, type Tracing } from '../../../src/observability/tracing.ts';
import { createTestEngine, quietLogger, type TestEngine } from '../../helpers/engine.ts';
import type { PagerDutyEventJob } from '../../../src/bot/pagerduty-queue.ts';
import { pagerDutyWebhookRoute } from '../../../src/bot/pagerduty-webhook.ts';
import { createWebRequestListener, readBody } from '../../../src/bot/web-routes.ts';
import { withTraceparent } from '../../../src/observability/trace-context.ts';
import { buildWebhookEvent, buildWebhookIncident, deliverPagerDutyWebhook } from '../../../src/sandbox/pagerduty-webhooks.ts';

const RUNBOOK = `---
id: traced
cost_center: ml-platform
---
# Traced

## First {#first}
\`\`\`record
label: "first"
timeout: 10s
\`\`\`

## Second {#second}
\`\`\`record
label: "second"
timeout: 10s
\`\`\`
`;

interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly attributes: Record<string, unknown>;
  readonly service: string;
}

/** A stand-in OTLP/HTTP collector: decodes the JSON export (`POST /v1/traces`). */
async function startCollector(): Promise<{ server: LoopbackServer; spans: ExportedSpan[]; paths: string[] }> {
  const spans: ExportedSpan[] = [];
  const paths: string[] = [];
  const server = await listenOnLoopback((req, res) => {
    void (async () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const body = JSON.parse((await readBody(req, 10_000_000)).toString('utf8')) as OtlpExport;
      for (const resourceSpans of body.resourceSpans ?? []) {
        const service = String(resourceSpans.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue);
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            const attributes = Object.fromEntries((span.attributes ?? []).map((a) => [a.key, a.value.stringValue ?? a.value.intValue]));
            spans.push({ traceId: span.traceId, spanId: span.spanId, ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}), name: span.name, attributes, service });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    })();
  });
  return { server, spans, paths };
}

interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string; value: { stringValue?: string; intValue?: number } }[] }[] }[];
  }[];
}

describe('tracing', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let tracing: Tracing;
  let t: TestEngine;
  let web: LoopbackServer;

  beforeAll(async () => {
    collector = await startCollector();
    tracing = createTracing({ endpoint: collector.server.base, serviceName: 'runbook-bot-worker', exportDelayMs: 50 });
    t = await createTestEngine({ observer: composeObservers(tracing) });
    // The "Slack command": an HTTP request whose handling starts the run.
    web = await listenOnLoopback(tracing.instrumentRequests((_req, res) => {
      void t.runtime.engine.startRun({ file: 'traced.md', source: RUNBOOK, params: {}, requester: { id: 'UALICE' } }).then((run) => res.writeHead(200).end(run.id));
    }, () => '/slack/events'));
  });
  afterAll(async () => {
    await web?.close();
    await t?.close();
    await tracing?.shutdown();
    await collector?.server.close();
  });

  async function spansFor(runId: string, count: number): Promise<ExportedSpan[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      await tracing.flush();
      const traceIds = new Set(collector.spans.filter((s) => s.attributes['runbook.run.id'] === runId).map((s) => s.traceId));
      const found = collector.spans.filter((s) => traceIds.has(s.traceId));
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  describe('when a request starts a run whose steps run in the step worker', () => {
    it('exports the request, the run and each step as one trace: steps under the run, the run under the request', async () => {
      const upstream = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const runId = await (await fetch(`${web.base}/slack/events`, { method: 'POST', headers: { traceparent: upstream } })).text();
      await t.settled(runId);
      const spans = await spansFor(runId, 4);
      const request = spans.find((s) => s.name === 'HTTP POST /slack/events');
      const run = spans.find((s) => s.name === 'run traced');
      const steps = spans.filter((s) => s.name.startsWith('step '));
      expect(request).toBeDefined();
      expect(run).toBeDefined();
      expect(steps.map((s) => s.name).sort()).toEqual(['step first', 'step second']);
      expect(request?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
      expect(request?.parentSpanId).toBe('b7ad6b7169203331');
      expect(run?.parentSpanId).toBe(request?.spanId);
      expect(run?.attributes['runbook.cost_center']).toBe('ml-platform');
      for (const step of steps) {
        expect(step.traceId).toBe(run?.traceId);
        expect(step.parentSpanId).toBe(run?.spanId);
        expect(step.attributes['runbook.step.executor']).toBe('record');
      }
      expect(run?.service).toBe('runbook-bot-worker');
      expect(collector.paths[0]).toMatch(/^POST \/v1\/traces application\/json/);
    });

    it('carries a PagerDuty delivery\'s trace through the events queue to the run it starts', async () => {
      // The real route, instrumented like the web process, enqueues the delivery with its traceparent.
      const jobs: PagerDutyEventJob[] = [];
      const route = pagerDutyWebhookRoute({ secrets: ['trace-secret'], redis: t.redis, prefix: t.prefix, queue: { add: async (_name, data) => { jobs.push(data); return undefined as never; } }, logger: quietLogger });
      const hook = await listenOnLoopback(tracing.instrumentRequests(createWebRequestListener([route], (_req, res) => res.writeHead(404).end(), () => undefined), () => '/pagerduty/webhook'));
      try {
        const event = buildWebhookEvent('incident.triggered', buildWebhookIncident({ id: 'QTRACE1', number: 1, title: 'traced', status: 'triggered', urgency: 'high', service: { id: 'PSVC001', name: 'model-serving' } }));
        expect((await deliverPagerDutyWebhook(`${hook.base}/pagerduty/webhook`, 'trace-secret', event)).status).toBe(202);
      } finally {
        await hook.close();
      }
      const traceparent = jobs[0]?.traceparent;
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      // The worker runs the job's handler inside that trace (pagerduty-events.ts): a run started there.
      const run = await withTraceparent(traceparent, () => t.runtime.engine.startRun({ file: 'traced.md', source: RUNBOOK, params: {}, requester: { id: 'pagerduty' } }));
      await t.settled(run.id);
      const spans = await spansFor(run.id, 4);
      const delivery = collector.spans.find((s) => s.name === 'HTTP POST /pagerduty/webhook' && traceparent?.includes(s.spanId));
      const runSpan = spans.find((s) => s.name === 'run traced');
      expect(delivery).toBeDefined();
      expect(runSpan?.traceId).toBe(delivery?.traceId);
      expect(runSpan?.parentSpanId).toBe(delivery?.spanId);
    });

    it('stores the run span as the run record\'s traceparent', async () => {
      const runId = await (await fetch(`${web.base}/slack/events`, { method: 'POST' })).text();
      const record = await t.settled(runId);
      const spans = await spansFor(runId, 4);
      const run = spans.find((s) => s.name === 'run traced');
      expect(record.traceparent).toBe(`00-${run?.traceId}-${run?.spanId}-01`);
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebRequestListener } from '../../../src/bot/web-routes.ts';
import { listenOnLoopback, type LoopbackServer } from '../../../src/sandbox/loopback-server.ts';
import { createProcessObservability, type ProcessObservability } from '../../../src/observability/setup.ts';
import { webObservability } from '../../../src/observability/web.ts';
import { createTestEngine, type TestEngine } from '../../helpers/engine.ts';

const TOKEN = 'dashboard-token-0123456789';

const RUNBOOK = `---
id: observed
cost_center: ml-platform
---
# Observed

## Record {#record}
\`\`\`record
label: "observed"
timeout: 10s
\`\`\`

## Approve {#approve}
\`\`\`approve
from: ["@ml-oncall-leads"]
\`\`\`

## Slow {#slow}
\`\`\`slow
ms: 50
timeout: 10s
\`\`\`
`;

describe('/metrics and /admin/queues of the web process', () => {
  let t: TestEngine;
  let observability: ProcessObservability;
  let server: LoopbackServer;

  beforeAll(async () => {
    observability = await createProcessObservability('web', {});
    t = await createTestEngine({ observer: observability.observer });
    const web = webObservability(observability, t.runtime, { auditToken: TOKEN });
    const listener = createWebRequestListener(web.routes, (_req, res) => void res.writeHead(404).end(), () => undefined);
    server = await listenOnLoopback(web.instrumentRequests(listener));
  });
  afterAll(async () => {
    await server?.close();
    await observability?.close();
    await t?.close();
  });

  describe('when a run of a runbook with a cost center finishes', () => {
    it('shows the run started and finished, step durations, approval wait, audit appends and queue depths', async () => {
      const run = await t.runtime.engine.startRun({ file: 'observed.md', source: RUNBOOK, params: {}, requester: { id: 'UALICE', name: 'alice' } });
      await t.waitFor(run.id, (r) => r.snapshot.context.steps['approve']?.status === 'awaiting_approval');
      await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'UBOB', name: 'bob', groups: ['@ml-oncall-leads'] } });
      const done = await t.settled(run.id);
      expect(done.status).toBe('succeeded');

      const res = await fetch(`${server.base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const body = await res.text();
      const web = { process: 'web' };
      expect(sample(body, 'runbook_runs_started_total', { ...web, runbook: 'observed', cost_center: 'ml-platform' })).toBe(1);
      expect(sample(body, 'runbook_runs_finished_total', { ...web, runbook: 'observed', state: 'succeeded', cost_center: 'ml-platform' })).toBe(1);
      expect(sample(body, 'runbook_step_duration_seconds_count', { ...web, executor: 'record', phase: 'do', outcome: 'succeeded' })).toBe(1);
      expect(sample(body, 'runbook_step_duration_seconds_count', { ...web, executor: 'slow', phase: 'do', outcome: 'succeeded' })).toBe(1);
      expect(sample(body, 'runbook_step_duration_seconds_sum', { ...web, executor: 'slow', phase: 'do', outcome: 'succeeded' })).toBeGreaterThanOrEqual(0.05);
      expect(sample(body, 'runbook_approval_wait_seconds_count', { ...web, runbook: 'observed', approver_group: '@ml-oncall-leads', outcome: 'approved' })).toBe(1);
      expect(sample(body, 'runbook_audit_append_seconds_count', { ...web, outcome: 'ok' })).toBeGreaterThan(0);
      expect(sample(body, 'runbook_job_wait_seconds_count', { ...web, queue: 'steps' })).toBe(2);
      for (const queue of ['steps', 'timers', 'notify', 'backfill-partitions']) {
        expect(sample(body, 'runbook_queue_jobs', { ...web, queue, state: 'waiting' })).toBe(0);
      }
      // A request is timed when its response is out, so the first scrape shows up in the second.
      const again = await (await fetch(`${server.base}/metrics`)).text();
      expect(sample(again, 'runbook_http_request_duration_seconds_count', { ...web, route: '/metrics', method: 'GET', status: '200' })).toBeGreaterThan(0);
    });
  });

  describe('when the queue dashboard is asked for', () => {
    it('answers 401 without the token', async () => {
      const res = await fetch(`${server.base}/admin/queues`);
      expect(res.status).toBe(401);
      expect((await fetch(`${server.base}/admin/queues/api/queues`)).status).toBe(401);
    });

    it('serves the page and lists the engine queues with the token', async () => {
      const auth = { authorization: `Bearer ${TOKEN}` };
      const page = await fetch(`${server.base}/admin/queues`, { headers: auth });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const api = await fetch(`${server.base}/admin/queues/api/queues?activeQueue=steps&status=latest&page=1`, { headers: auth });
      expect(api.status).toBe(200);
      const listed = (await api.json()) as { queues: { name: string }[] };
      expect(listed.queues.map((q) => q.name).sort()).toEqual(expect.arrayContaining(['steps', 'timers', 'notify', 'backfill-partitions']));
    });
  });
});

/** The value of the sample of `name` with exactly these labels (in any order), or undefined. */
function sample(body: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of body.split('\n')) {
    const match = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const wanted = Object.entries(labels);
    if (Object.keys(found).length === wanted.length && wanted.every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

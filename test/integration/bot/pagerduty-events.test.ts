/**
 * The `pagerduty-events` handler against the real incident service and engine (real Redis, fresh
 * prefix, test executors): what each PagerDuty event type does to incidents and runs, and that
 * repeating a job changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../../src/bot/catalog.ts';
import { autoRunId, createPagerDutyEventHandler } from '../../../src/bot/pagerduty-events.ts';
import type { PagerDutyEventJob } from '../../../src/bot/pagerduty-queue.ts';
import { loadRunbook } from '../../../src/machines/load.ts';
import { buildWebhookEvent, buildWebhookIncident, buildWebhookNote } from '../../../src/sandbox/pagerduty-webhooks.ts';
import { createTestEngine, quietLogger, testCatalog, type TestEngine } from '../../helpers/engine.ts';

const SOURCE = `---
id: pd-check
title: Check a model
params:
  model: { type: string, pattern: "^model-[a-z0-9-]+$" }
triggers:
  pagerduty:
    - service: model-serving
      urgency: high
      title: "(?<model>model-[a-z0-9-]+)"
---
# Check a model

## Check {#check}
\`\`\`fail
times: 0
read_only: true
\`\`\`
`;

let t: TestEngine;
let handle: ReturnType<typeof createPagerDutyEventHandler>;
let n = 0;

beforeAll(async () => {
  t = await createTestEngine();
  const runbook = loadRunbook('pd-check.md', SOURCE, testCatalog).runbook;
  if (!runbook) throw new Error('fixture runbook does not compile');
  const entries: CatalogEntry[] = [{ file: 'pd-check.md', source: SOURCE, runbook }];
  handle = createPagerDutyEventHandler({ incidents: t.runtime.incidents, engine: t.runtime.engine, catalog: { entries: () => entries }, logger: quietLogger });
});

afterAll(async () => {
  await t.close();
});

function job(eventType: string, data: Record<string, unknown>, agent: { id: string; name: string } | null = { id: 'PUSER1', name: 'Olivia On-call' }): PagerDutyEventJob {
  return { event: buildWebhookEvent(eventType, data, { agent }).event, receivedAt: Date.now() };
}

function incident(overrides: Partial<Parameters<typeof buildWebhookIncident>[0]> = {}) {
  n += 1;
  return buildWebhookIncident({ id: `QINT${String(n).padStart(4, '0')}`, number: n, title: 'p99 latency SLO burn: model-ranker', status: 'triggered', urgency: 'high', service: { id: 'PSVC001', name: 'model-serving' }, ...overrides });
}

describe('the pagerduty-events handler', () => {
  describe('when incident.triggered matches a runbook', () => {
    it('declares the incident and starts the runbook once, also when the job runs again', async () => {
      const data = incident();
      const first = await handle(job('incident.triggered', data));
      expect(first.action).toBe('declared');
      const declared = await t.runtime.incidents.findByPagerDutyId(String(data['id']));
      if (!declared) throw new Error('not declared');
      const runId = autoRunId(declared.id, 'pd-check', declared.createdAt);
      expect(first.started).toEqual([runId]);
      const run = await t.settled(runId);
      expect(run).toMatchObject({ status: 'succeeded', params: { model: 'model-ranker' }, requester: { id: 'pagerduty' }, origin: { kind: 'pagerduty', incidentId: declared.id } });
      expect(declared.context.declaredBy).toEqual({ id: 'pagerduty', name: 'Olivia On-call' });

      const again = await handle(job('incident.triggered', data));
      expect(again).toMatchObject({ action: 'declared', incidentId: declared.id, started: [] });
      expect((await t.runtime.engine.store.list(1_000)).filter((r) => r.incidentId === declared.id)).toHaveLength(1);
    });
  });

  describe('when incident.triggered matches nothing', () => {
    it('declares the incident and starts nothing', async () => {
      const result = await handle(job('incident.triggered', incident({ urgency: 'low' })));
      expect(result).toMatchObject({ action: 'declared', started: [] });
    });
  });

  describe('when PagerDuty acknowledges an incident we never heard of', () => {
    it('declares it first, then acknowledges it as PagerDuty, without syncing back', async () => {
      const data = incident({ status: 'acknowledged', title: 'Disk full on feature store', service: { id: 'PSVC002', name: 'feature-pipeline' } });
      const result = await handle(job('incident.acknowledged', data));
      expect(result.action).toBe('moved');
      const record = await t.runtime.incidents.findByPagerDutyId(String(data['id']));
      expect(record?.status).toBe('acknowledged');
      expect(record?.context.acknowledged?.by).toEqual({ id: 'pagerduty', name: 'Olivia On-call' });
      const effects = await t.runtime.incidentQueues.effects.getJobs(['waiting', 'active', 'completed', 'delayed', 'failed']);
      expect(effects.filter((j) => j.data.incidentId === record?.id && j.data.effect.kind === 'pagerduty.status')).toEqual([]);
      expect((await handle(job('incident.acknowledged', data))).action).toBe('unchanged');
    });
  });

  describe('when PagerDuty resolves, reassigns and annotates', () => {
    it('moves, reassigns and notes the incident', async () => {
      const data = incident();
      await handle(job('incident.triggered', data));
      const reassigned = await handle(job('incident.reassigned', { ...data, assignees: [{ id: 'PUSER2', type: 'user_reference', summary: 'Sam Secondary' }] }));
      expect(reassigned.action).toBe('moved');
      const noted = await handle(job('incident.annotated', buildWebhookNote({ id: String(data['id']), title: String(data['title']) }, { id: 'PN1', content: 'Looks like the last deploy' })));
      expect(noted.action).toBe('noted');
      const resolved = await handle(job('incident.resolved', { ...data, status: 'resolved' }, null));
      expect(resolved.action).toBe('moved');
      const record = await t.runtime.incidents.findByPagerDutyId(String(data['id']));
      expect(record?.status).toBe('resolved');
      const texts = record?.context.timeline.map((e) => e.text) ?? [];
      expect(texts).toEqual(expect.arrayContaining(['Reassigned to Sam Secondary', 'Looks like the last deploy']));
      expect(record?.context.resolved?.by).toEqual({ id: 'pagerduty', name: 'PagerDuty' });
    });
  });

  describe('when the event type is not one the bot acts on', () => {
    it('ignores it', async () => {
      expect((await handle(job('incident.priority_updated', incident()))).action).toBe('ignored');
      expect((await handle(job('pagey.ping', {}))).action).toBe('ignored');
    });
  });
});

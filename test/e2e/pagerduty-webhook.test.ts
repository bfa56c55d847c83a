/**
 * PagerDuty end to end (issue 6): real `runbook web` and `runbook worker` processes on the test
 * Redis (fresh prefix) against the sandbox's stand-ins. The PagerDuty stand-in delivers signed
 * webhooks v3 to the web process when an incident is created or moved through its REST API (which
 * the test drives with the real pdjs client); assertions read what PagerDuty, Slack and the
 * engine's stores hold.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteAuditStore, type AuditStore } from '../../src/audit/index.ts';
import { autoRunId } from '../../src/bot/pagerduty-events.ts';
import { createPagerDutyEventsQueue, pagerDutyEventJobId, type PagerDutyEventJob } from '../../src/bot/pagerduty-queue.ts';
import { createRuntime, type Runtime } from '../../src/engine/runtime.ts';
import type { RunRecord } from '../../src/engine/run-store.ts';
import { createPagerDutyClient, type PagerDutyClient } from '../../src/integrations/pagerduty.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { buildWebhookEvent, buildWebhookIncident, deliverPagerDutyWebhook } from '../../src/sandbox/pagerduty-webhooks.ts';
import { quietLogger, REDIS_URL, testCatalog } from '../helpers/engine.ts';
import { freePort, startWebProcess, startWorkerProcess, stopAllProcesses, type WebProcess } from '../helpers/processes.ts';
import { outputTail, waiter } from '../helpers/wait.ts';

const LATENCY = fileURLToPath(new URL('../../runbooks/diagnose-model-latency.md', import.meta.url));

// Read-only checks, then a change: an auto-started run must stop for a person before the change.
const GATED = `---
id: pd-gated-remediation
title: Gated remediation of a paging model
params:
  model: { type: string, pattern: "^model-[a-z0-9-]+$" }
  secret_token: { type: string, required: false, default: "s3cr3t-never-shown" }
triggers:
  pagerduty:
    - service: model-serving
      title: "(?<model>model-[a-z0-9-]+)"
---
# Gated remediation

## Check the model {#check}
\`\`\`fail
times: 0
read_only: true
\`\`\`

## Approve the restart {#approve}
\`\`\`approve
message: "Restart {{ params.model }}?"
\`\`\`

## Restart it {#restart}
\`\`\`record
label: "restart {{ params.model }}"
timeout: 10s
\`\`\`
`;

// A change with no gate before it: auto-started, it still waits for a person before the change.
const UNGATED = GATED.replace('id: pd-gated-remediation', 'id: pd-ungated-change').replace('title: Gated remediation of a paging model', 'title: Ungated change').replace(/## Approve the restart[\s\S]*?(?=## Restart it)/, '');
// The same change, which the policy refuses to start from PagerDuty at all: the incident says why.
const DENIED = UNGATED.replace('id: pd-ungated-change', 'id: pd-denied-change').replace('title: Ungated change', 'title: Denied change');
const POLICY = `auto_start:
  rules:
    - { name: never-unattended, runbooks: [pd-denied-change], effect: deny }
`;

let dir: string;
let prefix: string;
let sandbox: Sandbox;
let web: WebProcess;
let webhookUrl: string;
let secret: string;
let reader: Runtime;
let audit: AuditStore;
let pd: PagerDutyClient;
let queue: Queue<PagerDutyEventJob>;

beforeAll(async () => {
  prefix = `test-${randomUUID().slice(0, 8)}`;
  dir = mkdtempSync(join(tmpdir(), 'runbook-pd-e2e-'));
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  copyFileSync(LATENCY, join(runbooks, 'diagnose-model-latency.md'));
  writeFileSync(join(runbooks, 'pd-gated-remediation.md'), GATED);
  writeFileSync(join(runbooks, 'pd-ungated-change.md'), UNGATED);
  writeFileSync(join(runbooks, 'pd-denied-change.md'), DENIED);
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  sandbox = await startSandbox();
  secret = sandbox.env['PAGERDUTY_WEBHOOK_SECRET'] ?? '';
  const env = { ...sandbox.env, REDIS_URL, RUNBOOK_REDIS_PREFIX: prefix, DATA_DIR: join(dir, 'var'), RUNBOOK_TEST_EXECUTORS: '1' as const, RUNBOOKS_DIR: runbooks, POLICY_FILE: join(dir, 'policy.yaml'), LOG_LEVEL: 'info' };
  await startWorkerProcess(env, { name: 'pagerduty-e2e worker' });
  const slackEnv = { SLACK_BOT_TOKEN: sandbox.env['SLACK_BOT_TOKEN'] ?? '', SLACK_SIGNING_SECRET: sandbox.env['SLACK_SIGNING_SECRET'] ?? '', SLACK_API_URL: sandbox.env['SLACK_API_URL'] ?? '' };
  web = await startWebProcess({ ...env, ...slackEnv, PORT: String(await freePort()) }, { name: 'pagerduty-e2e web' });
  webhookUrl = `${web.url}/pagerduty/webhook`;
  sandbox.state.pagerduty.setWebhook({ url: webhookUrl, secret, retries: 3, retryDelayMs: 100 });
  audit = openSqliteAuditStore({ path: join(dir, 'reader-audit.sqlite3') });
  reader = await createRuntime({ redisUrl: REDIS_URL, prefix, audit, catalog: testCatalog, executors: new Map(), logger: quietLogger, workers: {}, reconciler: false });
  queue = createPagerDutyEventsQueue(reader.redis, reader.keys.queuePrefix);
  pd = createPagerDutyClient({ token: sandbox.env['PAGERDUTY_TOKEN'] ?? '', from: 'oncall@example.com', apiUrl: sandbox.env['PAGERDUTY_API_URL'] ?? '', rateLimitRetryDelayMs: 10 });
}, 60_000);

afterAll(async () => {
  await stopAllProcesses();
  await queue?.close();
  if (reader) {
    const keys = await reader.redis.keys(`${prefix}:*`);
    if (keys.length > 0) await reader.redis.del(...keys);
    await reader.close();
  }
  await audit?.close();
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const until = waiter({ timeoutMs: 20_000, intervalMs: 50, describe: outputTail('web', () => web.output(), 3_000) });

const runOf = (id: string) => reader.engine.getRun(id);
async function settledRun(id: string, done: (run: RunRecord) => boolean, what: string, timeoutMs = 25_000): Promise<RunRecord> {
  try {
    return await until(async () => { const run = await runOf(id); return run && done(run) ? run : undefined; }, what, { timeoutMs });
  } catch (error) {
    const run = await runOf(id);
    throw new Error(`${(error as Error).message.split('\n')[0]}; run ${id}: ${run ? `${run.status} ${JSON.stringify(run.snapshot.context.steps)}` : 'not found'}`);
  }
}

describe('PagerDuty webhooks, end to end', () => {
  let pdIncidentId: string;
  let incidentId: string;
  let createdAt: number;

  describe('when PagerDuty triggers an incident on model-serving naming a model', () => {
    it('declares the incident from the signed delivery', async () => {
      const { incident } = await pd.createIncident({ service: 'PSVC001', title: 'p99 latency SLO burn: model-x', urgency: 'high' });
      pdIncidentId = incident.id;
      await sandbox.state.pagerduty.webhooksIdle();
      expect(sandbox.state.pagerduty.deliveries.find((d) => d.incidentId === pdIncidentId)).toMatchObject({ eventType: 'incident.triggered', status: 202, attempts: 1 });
      const declared = await until(() => reader.incidents.findByPagerDutyId(pdIncidentId), 'the incident to be declared');
      incidentId = declared.id;
      createdAt = declared.createdAt;
      expect(declared.context).toMatchObject({ title: 'p99 latency SLO burn: model-x', source: 'pagerduty', severity: 'sev2', pagerDuty: { incidentId: pdIncidentId, serviceId: 'PSVC001', serviceName: 'model-serving', urgency: 'high' } });
    });

    it('auto-starts the latency diagnosis with the model from the title, and its read-only steps run', async () => {
      const run = await settledRun(autoRunId(incidentId, 'diagnose-model-latency', createdAt), (r) => r.status !== 'active', 'the diagnosis to finish');
      expect(run.params).toMatchObject({ model: 'model-x' });
      expect(run.requester.id).toBe('pagerduty');
      expect(run.origin).toEqual({ kind: 'pagerduty', incidentId });
      expect(run.snapshot.context.incident).toMatchObject({ id: incidentId, pagerduty_id: pdIncidentId, service: 'model-serving', urgency: 'high', severity: 'sev2', url: expect.stringContaining(pdIncidentId) });
      const steps = run.snapshot.context.steps;
      expect(steps['latency']?.status).toBe('succeeded');
      expect(steps['deployment']?.status).toBe('succeeded');
    });

    it('posts the findings as a note on the PagerDuty incident, with the From header, once', async () => {
      const note = await until(() => sandbox.state.pagerduty.notes.get(pdIncidentId)?.find((n) => n.content.includes('Diagnose high model latency')), 'the findings note');
      expect(note.from).toBe('runbook-bot@example.com');
      expect(note.content).toMatch(/Measure latency: \{.*p99_ms/);
      expect(note.content).toMatch(/Run finished: /);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(sandbox.state.pagerduty.notes.get(pdIncidentId)?.filter((n) => n.content.includes('Diagnose high model latency'))).toHaveLength(1);
    });

    it('stops the gated runbook for a person before its mutating step, after its read-only check, and says so in a note without secrets', async () => {
      const run = await settledRun(autoRunId(incidentId, 'pd-gated-remediation', createdAt), (r) => r.snapshot.context.steps['approve']?.status === 'awaiting_approval', 'the gated run to wait for an approval');
      expect(run.status).toBe('active');
      expect(run.snapshot.context.steps['check']?.status).toBe('succeeded');
      expect(run.snapshot.context.steps['restart']?.status).toBe('pending');
      const note = await until(() => sandbox.state.pagerduty.notes.get(pdIncidentId)?.find((n) => n.content.includes('Gated remediation')), 'the gated run findings note');
      expect(note.content).toMatch(/waiting for an approval in Slack: "Approve the restart"/);
      expect(note.content).not.toContain('s3cr3t-never-shown');
    });

    it('posts the findings in the incident channel too', async () => {
      const channel = await until(async () => (await reader.incidents.get(incidentId))?.context.slack?.channelId, 'the incident channel');
      const posted = await until(() => sandbox.state.slack.messagesIn(channel).find((m) => m.text.includes('Diagnose high model latency')), 'the findings in the channel');
      expect(posted.text).toContain(autoRunId(incidentId, 'diagnose-model-latency', createdAt));
    });

    it('holds a mutating step with no approval before it for a person to confirm', async () => {
      const run = await settledRun(autoRunId(incidentId, 'pd-ungated-change', createdAt), (r) => r.snapshot.context.steps['restart']?.status === 'awaiting_approval', 'the ungated run to wait for a confirmation');
      expect(run.status).toBe('active');
      expect(run.snapshot.context.steps['check']?.status).toBe('succeeded');
      expect(run.snapshot.context.steps['restart']?.attempt ?? 0).toBe(0);
    });

    it('does not start a runbook the auto-start policy refuses, and says why on the incident', async () => {
      const note = await until(async () => (await reader.incidents.get(incidentId))?.context.timeline.find((t) => t.type === 'note.added' && t.text.includes('pd-denied-change')), 'the refusal on the timeline');
      expect(note.text).toMatch(/matched but was not started: policy denied/);
      expect(note.text).toContain('never-unattended');
      expect(await runOf(autoRunId(incidentId, 'pd-denied-change', createdAt))).toBeUndefined();
    });

    it('puts the started runs on the incident', async () => {
      const expected = ['diagnose-model-latency', 'pd-gated-remediation', 'pd-ungated-change'].map((id) => autoRunId(incidentId, id, createdAt)).sort();
      const incident = await until(async () => { const i = await reader.incidents.get(incidentId); return i && i.context.runs.length >= expected.length ? i : undefined; }, 'runs on the incident');
      expect([...incident.context.runs].sort()).toEqual(expected);
    });
  });

  describe('when PagerDuty echoes the findings note back (incident.annotated)', () => {
    it('keeps one copy on the incident timeline', async () => {
      await sandbox.state.pagerduty.webhooksIdle();
      const annotated = sandbox.state.pagerduty.deliveries.filter((d) => d.incidentId === pdIncidentId && d.eventType === 'incident.annotated');
      expect(annotated.length).toBeGreaterThanOrEqual(2);
      expect(annotated.every((d) => d.status === 202)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const notes = (await reader.incidents.get(incidentId))?.context.timeline.filter((t) => t.type === 'note.added').map((t) => t.text) ?? [];
      expect(notes.filter((t) => t.includes('Runbook Bot: Diagnose high model latency'))).toHaveLength(1);
      expect(notes.filter((t) => t.includes('Runbook Bot: Gated remediation'))).toHaveLength(1);
    });
  });

  describe('when the same incident is delivered again', () => {
    it('answers a replay 200 and starts nothing new, and a new event id for it starts nothing new either', async () => {
      const runsBefore = (await reader.engine.store.list(1_000)).length;
      const incident = buildWebhookIncident({ id: pdIncidentId, number: 1, title: 'p99 latency SLO burn: model-x', status: 'triggered', urgency: 'high', service: { id: 'PSVC001', name: 'model-serving' } });
      const event = buildWebhookEvent('incident.triggered', incident);
      expect((await deliverPagerDutyWebhook(webhookUrl, secret, event)).status).toBe(202);
      expect((await deliverPagerDutyWebhook(webhookUrl, secret, event)).status).toBe(200);
      await until(async () => ((await (await queue.getJob(pagerDutyEventJobId(event.event.id)))?.isCompleted()) ? true : undefined), 'the second event job to be worked');
      expect((await reader.engine.store.list(1_000)).length).toBe(runsBefore);
      expect((await reader.incidents.list(100)).filter((i) => i.context.pagerDuty?.incidentId === pdIncidentId)).toHaveLength(1);
    });
  });

  describe('when a delivery is unsigned or badly signed', () => {
    it.each([
      ['unsigned', { signature: null }, 400],
      ['signed with another secret', { signature: `v1=${'ab'.repeat(32)}` }, 403],
    ] as const)('answers %s with a 4xx and changes nothing', async (_what, options, status) => {
      const forgedId = `QFORGED${randomUUID().slice(0, 6).toUpperCase()}`;
      const event = buildWebhookEvent('incident.triggered', buildWebhookIncident({ id: forgedId, number: 99, title: 'forged: model-x', status: 'triggered', urgency: 'high', service: { id: 'PSVC001', name: 'model-serving' } }));
      const runsBefore = (await reader.engine.store.list(1_000)).length;
      expect((await deliverPagerDutyWebhook(webhookUrl, secret, event, options)).status).toBe(status);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await queue.getJob(pagerDutyEventJobId(event.event.id))).toBeUndefined();
      expect(await reader.incidents.findByPagerDutyId(forgedId)).toBeUndefined();
      expect((await reader.engine.store.list(1_000)).length).toBe(runsBefore);
    });
  });

  describe('when the incident is acknowledged in PagerDuty', () => {
    it('moves the incident here without calling PagerDuty back', async () => {
      await pd.updateIncident(pdIncidentId, { status: 'acknowledged' });
      const puts = () => sandbox.state.pagerduty.callsTo('PUT', `/incidents/${pdIncidentId}`).length;
      expect(puts()).toBe(1);
      const incident = await until(async () => { const i = await reader.incidents.get(incidentId); return i?.status === 'acknowledged' ? i : undefined; }, 'the incident to be acknowledged');
      expect(incident.context.acknowledged?.by.id).toBe('pagerduty');
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(puts()).toBe(1);
    });
  });

  describe('when the incident is resolved here', () => {
    it('resolves it in PagerDuty with the From header', async () => {
      await reader.incidents.send(incidentId, { type: 'incident.resolve', by: { id: 'U0RESOLVER', name: 'rita' }, source: 'slack', resolution: 'rolled back' });
      const resolved = await until(() => sandbox.state.pagerduty.incidents.find((i) => i.id === pdIncidentId && i.status === 'resolved'), 'PagerDuty to show it resolved');
      expect(resolved.resolution).toBe('rolled back');
      const put = sandbox.state.pagerduty.callsTo('PUT', `/incidents/${pdIncidentId}`).at(-1);
      expect(put?.from).toBe('runbook-bot@example.com');
    });
  });
});

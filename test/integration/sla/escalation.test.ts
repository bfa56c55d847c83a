/**
 * SLA escalation end to end: the real engine runtime on Redis (fresh prefix), the timer and notify
 * workers, the Slack and PagerDuty stand-ins through the real `@slack/web-api` and pdjs clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LogLevel } from '@slack/web-api';
import { UnrecoverableError } from 'bullmq';
import { createEscalationNotifier, escalationIncidentKey, isEscalationOrClosingJob } from '../../../src/bot/escalations.ts';
import { composeNotifiers } from '../../../src/bot/notifier-composite.ts';
import { createSlackNotifier, lateBoundNotifier } from '../../../src/bot/notifier.ts';
import { createRuntime, type Runtime } from '../../../src/engine/runtime.ts';
import { createPagerDutyClient } from '../../../src/integrations/pagerduty.ts';
import { createSlackClient } from '../../../src/integrations/slack.ts';
import type { Person } from '../../../src/machines/run-types.ts';
import { startPagerDutyStandIn, type PagerDutyStandIn } from '../../../src/sandbox/pagerduty.ts';
import { startSlackStandIn, type SlackStandIn } from '../../../src/sandbox/slack.ts';
import { createTestEngine, quietLogger, REDIS_URL, testCatalog, type TestEngine } from '../../helpers/engine.ts';
import { until } from '../../helpers/wait.ts';

const CHANNEL = 'C0MLONC001';
const alice: Person = { id: 'U0REQUEST1', name: 'alice' };
const bob: Person = { id: 'U0APPROVE1', name: 'bob', groups: ['@ml-oncall-leads'] };

const gated = (ladder: string) => `---
title: Escalating gate
---
# Gate

## Approve the change {#approve}
\`\`\`approve
message: "Ship it?"
${ladder}
\`\`\`

## Apply {#apply}
\`\`\`record
label: applied
\`\`\`
`;

const LADDER = `expires: 1200ms
escalation:
  - after: 300ms
    notify: ["@ml-oncall-leads", "U024BE7LH"]
  - after: 700ms
    page: { service: model-serving, escalation_policy: PABC123 }`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface World {
  readonly slack: SlackStandIn;
  readonly pd: PagerDutyStandIn;
}

async function world(): Promise<World> {
  const slack = await startSlackStandIn();
  const pd = await startPagerDutyStandIn();
  cleanups.push(async () => {
    await slack.close();
    await pd.close();
  });
  return { slack, pd };
}

/** The notify worker's composition, as bootstrap builds it: run message + escalations. */
function bindNotifier(w: World, runtime: Runtime, prefix: string, bind: (n: ReturnType<typeof composeNotifiers>) => void): void {
  const slack = createSlackClient({ token: 'xoxb-test-token', apiUrl: w.slack.url, retries: 0, rejectRateLimitedCalls: true, timeoutMs: 5_000, logLevel: LogLevel.ERROR });
  const pagerduty = createPagerDutyClient({ token: 'pd-test-token', from: 'bot@example.com', apiUrl: w.pd.url, timeoutMs: 5_000 });
  bind(composeNotifiers([
    { name: 'slack', notifier: createSlackNotifier({ slack, redis: runtime.redis, prefix, engine: runtime.engine, queue: runtime.queues.notify, logger: quietLogger, refreshIntervalMs: 0 }) },
    { name: 'escalations', accepts: isEscalationOrClosingJob, notifier: createEscalationNotifier({ slack, pagerduty, redis: runtime.redis, prefix, engine: runtime.engine, incidents: runtime.incidents, logger: quietLogger }) },
  ]));
}

async function engineWith(w: World): Promise<TestEngine> {
  const late = lateBoundNotifier();
  const t = await createTestEngine({ notifier: late.notifier });
  cleanups.push(() => t.close());
  bindNotifier(w, t.runtime, t.prefix, late.bind);
  return t;
}

const start = (runtime: Runtime, source: string) =>
  runtime.engine.startRun({ file: 'gate.md', source, params: {}, requester: alice, origin: { kind: 'slack', channel: CHANNEL } });

const reminders = (w: World) => w.slack.state.callsTo('chat.postMessage').filter((a) => String(a['text']).startsWith('⏰'));

describe('SLA escalation of a run approval', () => {
  describe('when nobody approves', () => {
    it('reminds the group in the run message thread, then pages, then expiry rejects; each is audited', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await start(t.runtime, gated(LADDER));
      const ref = await until(() => t.redis.get(`${t.prefix}:slack:message:${run.id}`), 'the run message');
      const reminder = await until(() => reminders(w)[0], 'a reminder');
      expect(reminder['text']).toContain('<!subteam^S0MLLEADS1>');
      expect(reminder['text']).toContain('<@U024BE7LH>');
      expect(reminder['thread_ts']).toBe(JSON.parse(ref).ts);
      const incident = await until(() => w.pd.state.incidents[0], 'a PagerDuty page');
      expect(incident).toMatchObject({ incident_key: escalationIncidentKey(run.id, 'approve', 1), service: { id: 'PSVC001' }, escalation_policy: { id: 'PABC123' } });
      const finished = await t.settled(run.id);
      expect(finished.status).toBe('rejected');
      const approve = finished.snapshot.context.steps['approve'];
      expect(approve).toMatchObject({ error: { code: 'approval_expired' }, escalations: [{ rung: 0 }, { rung: 1 }] });
      // In order: reminder, page, expiry, each no earlier than its rung says.
      const [first, second] = approve?.escalations ?? [];
      expect(first?.at).toBeGreaterThanOrEqual(run.createdAt + 300);
      expect(second?.at).toBeGreaterThanOrEqual(run.createdAt + 700);
      expect(approve?.decidedBy?.at).toBeGreaterThanOrEqual(Math.max(run.createdAt + 1_200, second?.at ?? 0));
      const fired = await t.audit.list({ runId: run.id, type: 'escalation.fired' });
      expect(fired.map((r) => r.data)).toEqual([
        expect.objectContaining({ stepId: 'approve', rung: 0, notify: ['@ml-oncall-leads', 'U024BE7LH'] }),
        expect.objectContaining({ stepId: 'approve', rung: 1, page: { service: 'model-serving', escalationPolicy: 'PABC123' } }),
      ]);
      // The run message shows them while waiting; by now it shows the rejection. Nothing went twice.
      await new Promise((r) => setTimeout(r, 300));
      expect(reminders(w)).toHaveLength(1);
      expect(w.pd.state.incidents).toHaveLength(1);
    });
  });

  describe('when someone approves after the page went out', () => {
    it('resolves the PagerDuty incident the page opened, saying why', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await start(t.runtime, gated('escalation:\n  - after: 300ms\n    page: { service: model-serving }'));
      const paged = await until(() => w.pd.state.incidents[0], 'a PagerDuty page');
      expect(paged.status).toBe('triggered');
      await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: bob });
      await t.settled(run.id);
      const resolved = await until(() => (w.pd.state.incidents[0]?.status === 'resolved' ? w.pd.state.incidents[0] : undefined), 'the page resolved');
      expect(resolved.id).toBe(paged.id);
      expect(resolved.resolution).toBe(`Runbook run ${run.id}: step approve is no longer waiting (approved).`);
      expect(w.pd.state.incidents).toHaveLength(1);
    });
  });

  describe('when someone approves in time', () => {
    it('leaves no pending rung timer and nothing fires', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await start(t.runtime, gated(LADDER.replace('300ms', '600ms').replace('700ms', '900ms')));
      const delayed = async () => (await t.runtime.queues.timers.getDelayed()).filter((j) => j.data.runId === run.id).map((j) => j.data.timerId);
      expect((await delayed()).sort()).toEqual(['approve.approval.expiry', 'approve.escalate.0', 'approve.escalate.1']);
      const sent = await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: bob });
      expect(sent.applied).toBe(true);
      await t.settled(run.id);
      expect(await delayed()).toEqual([]);
      await new Promise((r) => setTimeout(r, 1_200));
      expect(reminders(w)).toEqual([]);
      expect(w.pd.state.calls).toEqual([]);
      expect(await t.audit.list({ runId: run.id, type: 'escalation.fired' })).toEqual([]);
      expect(await t.audit.list({ runId: run.id, type: 'timer.cancelled' })).toHaveLength(3);
    });
  });

  describe('when the processes restart between scheduling and firing', () => {
    it('delivers the reminder exactly once from the new runtime', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await start(t.runtime, gated('escalation:\n  - after: 1500ms\n    notify: ["@ml-oncall-leads"]'));
      await t.runtime.close();
      expect(reminders(w)).toEqual([]);
      const late = lateBoundNotifier();
      const next = await createRuntime({
        redisUrl: REDIS_URL, prefix: t.prefix, audit: t.audit, catalog: testCatalog, executors: new Map(), logger: quietLogger,
        workers: { steps: true, timers: true, notify: true }, reconciler: { intervalMs: 200, graceMs: 100 }, notifier: late.notifier,
      });
      cleanups.push(() => next.close());
      bindNotifier(w, next, t.prefix, late.bind);
      const reminder = await until(() => reminders(w)[0], 'the reminder after the restart');
      expect(reminder['text']).toContain('<!subteam^S0MLLEADS1>');
      await new Promise((r) => setTimeout(r, 800));
      expect(reminders(w)).toHaveLength(1);
      expect(await t.audit.list({ runId: run.id, type: 'escalation.fired' })).toHaveLength(1);
      expect((await next.engine.getRun(run.id))?.snapshot.context.steps['approve']?.status).toBe('awaiting_approval');
    });
  });
});

describe('the escalation notifier', () => {
  const job = (runId: string, rung: number) => ({
    runId, version: 1,
    effect: { kind: 'escalation.fire' as const, stepId: 'approve', rung, afterMs: 60_000, waitingFor: 'approval' as const, page: { service: 'model-serving' } },
  });
  const notifierFor = (w: World, t: TestEngine) => createEscalationNotifier({
    pagerduty: createPagerDutyClient({ token: 'pd-test-token', from: 'bot@example.com', apiUrl: w.pd.url, timeoutMs: 5_000 }),
    redis: t.redis, prefix: t.prefix, engine: t.runtime.engine, logger: quietLogger,
  });

  describe('when a page job is delivered again, even after its marker was lost', () => {
    it('opens one PagerDuty incident', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await start(t.runtime, gated(''));
      const notify = notifierFor(w, t);
      await notify(job(run.id, 0));
      await notify(job(run.id, 0));
      for (const key of await t.redis.keys(`${t.prefix}:escalation:*`)) await t.redis.del(key);
      await notify(job(run.id, 0));
      expect(w.pd.state.incidents).toHaveLength(1);
      expect(w.pd.state.incidents[0]?.incident_key).toBe(escalationIncidentKey(run.id, 'approve', 0));
    });
  });

  describe('when the run belongs to an incident that mirrors a PagerDuty incident', () => {
    it('escalates that incident one level, once however often the job is delivered', async () => {
      const w = await world();
      const t = await engineWith(w);
      const pd = createPagerDutyClient({ token: 'pd-test-token', from: 'bot@example.com', apiUrl: w.pd.url, timeoutMs: 5_000 });
      const { incident: paged } = await pd.createIncident({ service: 'PSVC001', title: 'model-x latency' });
      const { incident } = await t.runtime.incidents.declare({ title: 'model-x latency', source: 'pagerduty', declaredBy: { id: 'pagerduty' }, pagerDuty: { incidentId: paged.id } });
      const run = await t.runtime.engine.startRun({ file: 'gate.md', source: gated(''), params: {}, requester: alice, incident: { id: incident.id } });
      const notify = createEscalationNotifier({ pagerduty: pd, redis: t.redis, prefix: t.prefix, engine: t.runtime.engine, incidents: t.runtime.incidents, logger: quietLogger });
      await notify(job(run.id, 0));
      for (const key of await t.redis.keys(`${t.prefix}:escalation:*:page`)) await t.redis.del(key);
      await notify(job(run.id, 0));
      expect(w.pd.state.incidents).toHaveLength(1);
      expect(w.pd.state.incidents[0]?.escalation_level).toBe(2);
      expect(w.pd.state.callsTo('PUT', `/incidents/${paged.id}`)).toHaveLength(1);
    });
  });

  describe('when PagerDuty answers 4xx', () => {
    it('fails without retry, with a coded message', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await start(t.runtime, gated(''));
      w.pd.state.failNext(1, 400, { method: 'POST', path: '/incidents' });
      const failure = await notifierFor(w, t)(job(run.id, 1)).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(UnrecoverableError);
      expect(String((failure as Error).message)).toMatch(/the page for step `approve` of run .* failed: PagerDuty POST \/incidents answered 400/);
      expect(w.pd.state.incidents).toEqual([]);
    });
  });

  describe('when the step stopped waiting before the job ran', () => {
    it('does nothing', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await start(t.runtime, gated(''));
      await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: bob });
      await notifierFor(w, t)(job(run.id, 0));
      expect(w.pd.state.calls).toEqual([]);
    });
  });
});

describe('an auto-started run', () => {
  const DIAGNOSE = `# Diagnose

## Look {#look}
\`\`\`fail
times: 0
\`\`\`

## Restart {#restart}
\`\`\`record
label: restart
\`\`\`
`;

  describe('when PagerDuty started it', () => {
    it('runs the read-only step, waits for a person at the mutating one, and audits the gate like any approval', async () => {
      const w = await world();
      const t = await engineWith(w);
      const run = await t.runtime.engine.startRun({ file: 'diagnose.md', source: DIAGNOSE, params: {}, requester: { id: 'pagerduty' }, origin: { kind: 'pagerduty', incidentId: 'Q1ABC' } });
      const waiting = await t.waitFor(run.id, (r) => r.snapshot.context.steps['restart']?.status === 'awaiting_approval');
      expect(waiting.snapshot.context.steps['look']?.status).toBe('succeeded');
      expect(await t.state.effects()).toEqual([]);
      // The snapshot is committed before its outbox (the audit records) is drained: wait for the record.
      const requested = await until(async () => {
        const found = await t.audit.list({ runId: run.id, type: 'approval.requested' });
        return found.length > 0 ? found : undefined;
      }, 'the approval.requested record');
      expect(requested.map((r) => r.data)).toEqual([expect.objectContaining({ stepId: 'restart', message: expect.stringContaining('Started automatically by PagerDuty incident Q1ABC') })]);
      await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'restart', by: bob });
      const done = await t.settled(run.id);
      expect(done.status).toBe('succeeded');
      expect((await t.state.effects()).map((e) => e.label)).toEqual(['restart']);
      expect(await t.audit.list({ runId: run.id, type: 'approval.granted' })).toEqual([expect.objectContaining({ actor: bob.id })]);
    });
  });
});


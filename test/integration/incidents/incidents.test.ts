import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../src/audit/index.ts';
import type { IncidentEffectJob } from '../../../src/engine/incident-port.ts';
import { incidentTimerJobId } from '../../../src/engine/incident-queues.ts';
import { createRuntime } from '../../../src/engine/runtime.ts';
import type { Person } from '../../../src/machines/run-types.ts';
import { createTestEngine, quietLogger, REDIS_URL, testCatalog, type TestEngine } from '../../helpers/engine.ts';
import { until } from '../../helpers/wait.ts';

const alice: Person = { id: 'UALICE', name: 'alice' };
const pd: Person = { id: 'pagerduty', name: 'PagerDuty' };

/** Collects what reaches the incident effect handler, as the Slack / PagerDuty sides would see it. */
function recorder() {
  const jobs: IncidentEffectJob[] = [];
  return {
    jobs,
    handler: async (job: IncidentEffectJob) => {
      jobs.push(job);
    },
    kinds: (incidentId: string) => jobs.filter((j) => j.incidentId === incidentId).map((j) => j.effect.kind),
  };
}

const incidentRecords = async (te: TestEngine, incidentId: string): Promise<AuditRecord[]> => (await te.audit.list({ limit: 10_000 })).filter((r) => r.incidentId === incidentId);

describe('IncidentService', () => {
  let te: TestEngine | undefined;
  afterEach(async () => {
    await te?.close();
    te = undefined;
  });

  describe('when the same PagerDuty incident is declared twice', () => {
    it('keeps one incident and returns it to every caller', async () => {
      te = await createTestEngine({ workers: {} });
      const incidents = te.runtime.incidents;
      const request = { title: 'model-serving p99 high', source: 'pagerduty' as const, declaredBy: pd, severity: 'sev2' as const, pagerDuty: { incidentId: 'PT4KHLK', number: 7 } };
      const first = await incidents.declare(request);
      const again = await incidents.declare(request);
      const racing = await Promise.all([1, 2, 3, 4].map(() => incidents.declare({ ...request, pagerDuty: { incidentId: 'PRACE' } })));
      expect(first.created).toBe(true);
      expect(first.incident.id).toMatch(/^INC-\d+$/);
      expect(again).toMatchObject({ created: false, incident: { id: first.incident.id } });
      expect(racing.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(racing.map((r) => r.incident.id)).size).toBe(1);
      expect((await incidents.findByPagerDutyId('PT4KHLK'))?.id).toBe(first.incident.id);
      expect((await incidents.list()).map((i) => i.id).sort()).toEqual([first.incident.id, racing[0]?.incident.id].sort());
    });
  });

  describe('when an incident is acknowledged and resolved', () => {
    it('moves through the states with who/when, audited in order, and refuses a second ack with why', async () => {
      const effects = recorder();
      te = await createTestEngine({ incidentEffects: effects.handler, incidentAckEscalation: [{ afterMs: 60_000, notify: ['@sre'] }] });
      const incidents = te.runtime.incidents;
      const { incident } = await incidents.declare({ title: 'Feature store lag', source: 'cli', declaredBy: { id: 'cli:dana', name: 'dana' }, pagerDuty: { incidentId: 'PD42' } });
      const acked = await incidents.send(incident.id, { type: 'incident.acknowledge', by: alice, source: 'slack' });
      expect(acked).toMatchObject({ applied: true, incident: { status: 'acknowledged', version: 2, context: { acknowledged: { by: alice } } } });
      const twice = await incidents.send(incident.id, { type: 'incident.acknowledge', by: pd, source: 'pagerduty' });
      expect(twice).toMatchObject({ applied: false, reason: 'already_acknowledged', incident: { version: 2 } });
      const resolved = await incidents.send(incident.id, { type: 'incident.resolve', by: alice, source: 'slack', resolution: 'scaled the consumer' });
      expect(resolved.incident.status).toBe('resolved');
      expect((await incidents.get(incident.id))?.context.resolved).toMatchObject({ by: alice, resolution: 'scaled the consumer' });

      const records = await incidentRecords(te, incident.id);
      expect(records.map((r) => [r.type, r.actor])).toEqual([
        ['incident.declared', 'cli:dana'], ['incident.channel_requested', 'system'], ['incident.timer_scheduled', 'system'],
        ['incident.acknowledged', 'UALICE'], ['incident.timer_cancelled', 'system'], ['incident.pagerduty_sync_requested', 'system'], ['incident.posted', 'system'],
        ['incident.event_ignored', 'pagerduty'],
        ['incident.resolved', 'UALICE'], ['incident.pagerduty_sync_requested', 'system'], ['incident.posted', 'system'],
      ]);
      expect(records[0]?.id).toBe(`${incident.id}.1.0`);
      expect(records.find((r) => r.type === 'incident.event_ignored')?.data).toMatchObject({ reason: 'already_acknowledged' });
      await until(() => effects.jobs.filter((j) => j.effect.kind === 'pagerduty.status').length === 2 || undefined, 'the PagerDuty sync effects');
      expect(effects.jobs.filter((j) => j.effect.kind === 'pagerduty.status').map((j) => j.effect)).toEqual([
        { kind: 'pagerduty.status', status: 'acknowledged' },
        { kind: 'pagerduty.status', status: 'resolved', resolution: 'scaled the consumer' },
      ]);
    });

    it('finds the incident by its Slack channel once the channel is reported', async () => {
      te = await createTestEngine({ workers: {} });
      const { incident } = await te.runtime.incidents.declare({ title: 'x', source: 'slack', declaredBy: alice });
      expect(await te.runtime.incidents.findByChannel('C0INC')).toBeUndefined();
      await te.runtime.incidents.send(incident.id, { type: 'incident.channel_created', channel: { channelId: 'C0INC', name: 'inc-x' } });
      expect((await te.runtime.incidents.findByChannel('C0INC'))?.id).toBe(incident.id);
    });
  });

  describe('when an incident goes from declared to resolved', () => {
    it('reports the KPIs once each: declared, automatic diagnostics, time to acknowledge and to resolve', async () => {
      const seen: string[] = [];
      te = await createTestEngine({
        workers: {},
        observer: {
          incidentDeclared: (i) => seen.push(`declared ${i.source} ${i.severity}`),
          incidentDiagnosed: (d) => seen.push(`diagnosed ${d.automatic ? 'automatic' : 'manual'}`),
          incidentAcknowledged: (i) => seen.push(`acknowledged ${i.severity} ${i.ms >= 0}`),
          incidentResolved: (i) => seen.push(`resolved ${i.severity} ${i.ms >= 0}`),
        },
      });
      const { incident } = await te.runtime.incidents.declare({ title: 'kpi', source: 'pagerduty', declaredBy: pd, severity: 'sev2', pagerDuty: { incidentId: 'PKPI' } });
      await te.runtime.incidents.send(incident.id, { type: 'incident.run_started', runId: 'R1', runbookId: 'diagnose', by: pd, auto: true });
      await te.runtime.incidents.send(incident.id, { type: 'incident.run_started', runId: 'R2', runbookId: 'rollback', by: alice, auto: false });
      await te.runtime.incidents.send(incident.id, { type: 'incident.acknowledge', by: alice, source: 'slack' });
      await te.runtime.incidents.send(incident.id, { type: 'incident.acknowledge', by: alice, source: 'slack' });
      await te.runtime.incidents.send(incident.id, { type: 'incident.resolve', by: alice, source: 'slack' });
      expect(seen).toEqual(['declared pagerduty sev2', 'diagnosed automatic', 'acknowledged sev2 true', 'resolved sev2 true']);
    });
  });

  describe('when an event names someone the audit log cannot record', () => {
    it('refuses it before committing, and the incident keeps taking events', async () => {
      te = await createTestEngine({ workers: {} });
      const { incident } = await te.runtime.incidents.declare({ title: 'bad actor', source: 'slack', declaredBy: alice });
      await expect(te.runtime.incidents.send(incident.id, { type: 'incident.note', by: { id: 'runbook-bot' }, text: 'hello' })).rejects.toMatchObject({ code: 'event_invalid', message: expect.stringContaining('actor') });
      expect((await te.runtime.incidents.get(incident.id))?.version).toBe(incident.version);
      const acked = await te.runtime.incidents.send(incident.id, { type: 'incident.acknowledge', by: alice, source: 'slack' });
      expect(acked.applied).toBe(true);
      expect(await te.redis.llen(te.runtime.keys.incidentOutbox(incident.id))).toBe(0);
    });
  });

  describe('when nobody acknowledges in time', () => {
    it('fires the escalation through the handler after the delay, audited as incident.escalated', async () => {
      const effects = recorder();
      te = await createTestEngine({ incidentEffects: effects.handler });
      const { incident } = await te.runtime.incidents.declare({ title: 'drift alarm', source: 'slack', declaredBy: alice, ackEscalation: [{ afterMs: 300, notify: ['@ml-oncall'] }] });
      const job = await until(() => effects.jobs.find((j) => j.incidentId === incident.id && j.effect.kind === 'escalation.fire'), 'escalation.fire');
      expect(job.effect).toEqual({ kind: 'escalation.fire', rung: 0, notify: ['@ml-oncall'], reason: 'not acknowledged within 300ms' });
      const stored = await te.runtime.incidents.get(incident.id);
      expect(stored?.context.escalated).toEqual([0]);
      expect(stored?.context.timeline.at(-1)).toMatchObject({ type: 'escalation.fired' });
      expect((await incidentRecords(te, incident.id)).map((r) => r.type)).toContain('incident.escalated');
    });

    it('removes the timer job when acknowledged first, and nothing fires', async () => {
      const effects = recorder();
      te = await createTestEngine({ incidentEffects: effects.handler });
      const { incident } = await te.runtime.incidents.declare({ title: 'latency', source: 'slack', declaredBy: alice, ackEscalation: [{ afterMs: 800, notify: ['@sre'] }] });
      const timerId = incidentTimerJobId(incident.id, 'ack-0');
      expect(await te.runtime.incidentQueues.timers.getJobState(timerId)).toBe('delayed');
      await te.runtime.incidents.send(incident.id, { type: 'incident.acknowledge', by: alice, source: 'slack' });
      expect(await te.runtime.incidentQueues.timers.getJob(timerId)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 1_300));
      expect(effects.kinds(incident.id)).not.toContain('escalation.fire');
      expect((await te.runtime.incidents.get(incident.id))?.context.escalated).toEqual([]);
    });
  });

  describe('when every process restarts between scheduling and firing', () => {
    it('still fires the escalation from the delayed job', async () => {
      te = await createTestEngine({ workers: {}, reconciler: false });
      const { incident } = await te.runtime.incidents.declare({ title: 'region failover', source: 'cli', declaredBy: alice, ackEscalation: [{ afterMs: 1_200, page: { escalationPolicy: 'PABC123' } }] });
      await te.runtime.close();
      const effects = recorder();
      const restarted = await createRuntime({
        redisUrl: REDIS_URL, prefix: te.prefix, audit: te.audit, catalog: testCatalog, executors: new Map(), logger: quietLogger,
        workers: { notify: true }, workerSettings: { lockDurationMs: 2_000, stalledIntervalMs: 500 }, incidentEffects: effects.handler,
      });
      try {
        const job = await until(() => effects.jobs.find((j) => j.effect.kind === 'escalation.fire'), 'escalation.fire after the restart');
        expect(job).toMatchObject({ incidentId: incident.id, effect: { rung: 0, page: { escalationPolicy: 'PABC123' } } });
      } finally {
        await restarted.close();
      }
    });
  });

  describe('when a crash leaves an incident outbox undrained', () => {
    it('the reconciler drains it: audit first, then the effects', async () => {
      const effects = recorder();
      te = await createTestEngine({ incidentEffects: effects.handler });
      const { incident } = await te.runtime.incidents.declare({ title: 'crash', source: 'slack', declaredBy: alice });
      const store = te.runtime.incidents.store;
      const loaded = await store.load(incident.id);
      if (!loaded) throw new Error('incident missing');
      // A commit whose drain never ran (the process died right after the Lua script).
      const entry = { version: 2, records: [{ id: `${incident.id}.2.0`, at: Date.now(), incidentId: incident.id, actor: 'UALICE', type: 'incident.note_added', data: { text: 'left behind' } }], effects: [{ kind: 'incident.post' as const, text: 'left behind' }] };
      expect(await store.commit(incident.id, 1, loaded.snapshot, entry, Date.now() - 5_000)).toBe(true);
      await until(async () => ((await te?.redis.llen(te.runtime.keys.incidentOutbox(incident.id))) === 0 ? true : undefined), 'the reconciler to drain');
      await until(() => effects.jobs.find((j) => j.version === 2 && j.effect.kind === 'incident.post'), 'the left-behind post');
      expect((await incidentRecords(te, incident.id)).map((r) => r.id)).toContain(`${incident.id}.2.0`);
    });
  });

  describe('when a run is started for an incident', () => {
    it('puts the run and its final state on the incident timeline', async () => {
      te = await createTestEngine();
      const { incident } = await te.runtime.incidents.declare({ title: 'diagnose', source: 'slack', declaredBy: alice });
      const source = '---\ntitle: Quick check\n---\n# Quick check\n\n## Look {#look}\n```record\nlabel: look\ntimeout: 10s\n```\n';
      const run = await te.runtime.engine.startRun({ file: 'quick.md', source, params: {}, requester: alice, incident: { id: incident.id } });
      await te.settled(run.id);
      const stored = await until(async () => {
        const current = await te?.runtime.incidents.get(incident.id);
        return current?.context.timeline.some((t) => t.type === 'run.finished') ? current : undefined;
      }, 'run.finished on the timeline');
      expect(stored.context.runs).toEqual([run.id]);
      expect(stored.context.timeline.filter((t) => t.type.startsWith('run.')).map((t) => [t.type, t.data?.['runId'], t.data?.['status'] ?? null])).toEqual([
        ['run.started', run.id, null],
        ['run.finished', run.id, 'succeeded'],
      ]);
    });
  });
});

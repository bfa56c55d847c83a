import { describe, expect, it } from 'vitest';
import { applyIncidentEvent, startIncident, type PersistedIncident } from '../../../src/machines/incident-machine.ts';
import { incidentChannelName } from '../../../src/machines/incident-logic.ts';
import type { IncidentEffect, IncidentEvent, IncidentInput } from '../../../src/machines/incident-types.ts';
import type { Person } from '../../../src/machines/run-types.ts';

const alice: Person = { id: 'UALICE', name: 'alice' };
const bob: Person = { id: 'UBOB', name: 'bob' };
const pd: Person = { id: 'pagerduty', name: 'PagerDuty' };
const T0 = Date.UTC(2024, 4, 1, 23, 59, 30);
const MIN = 60_000;

const ladder = [{ afterMs: 10 * MIN, notify: ['@ml-oncall'] }, { afterMs: 20 * MIN, page: { escalationPolicy: 'PABC123' } }];

function input(extra: Partial<IncidentInput> = {}): IncidentInput {
  return { id: 'INC-7', title: 'Model X latency spike!', severity: 'sev2', source: 'slack', declaredBy: alice, createdAt: T0, ...extra };
}

/** Drives an incident through events the way the engine does, keeping the last step's outcome. */
class Driver {
  snapshot: PersistedIncident;
  effects: readonly IncidentEffect[];
  reason: string | undefined;
  constructor(extra: Partial<IncidentInput> = {}) {
    const started = startIncident(input(extra));
    this.snapshot = started.snapshot;
    this.effects = started.effects;
    this.reason = undefined;
  }
  send(event: IncidentEvent): boolean {
    const stepped = applyIncidentEvent(this.snapshot, event);
    this.snapshot = stepped.snapshot;
    this.effects = stepped.effects;
    this.reason = stepped.reason;
    return stepped.changed;
  }
  get status() {
    return this.snapshot.value;
  }
  get context() {
    return this.snapshot.context;
  }
  kinds() {
    return this.effects.map((e) => e.kind);
  }
}

describe('incidentMachine', () => {
  describe('when an incident is declared', () => {
    it('starts triggered with a declaration on the timeline and asks for its channel and one timer per ack rung', () => {
      const inc = new Driver({ ackEscalation: ladder, responders: ['U1', 'U2'] });
      expect(inc.status).toBe('triggered');
      expect(inc.snapshot.status).toBe('active');
      expect(inc.context.timeline).toEqual([expect.objectContaining({ type: 'incident.triggered', at: T0, actor: alice })]);
      expect(inc.effects).toEqual([
        { kind: 'incident.channel.create', name: 'inc-20240501-model-x-latency-spike', responders: ['U1', 'U2'] },
        { kind: 'timer.schedule', timerId: 'ack-0', delayMs: 10 * MIN, purpose: 'ack-escalation' },
        { kind: 'timer.schedule', timerId: 'ack-1', delayMs: 20 * MIN, purpose: 'ack-escalation' },
      ]);
    });

    it('schedules no timer when there is no ladder', () => {
      expect(new Driver().kinds()).toEqual(['incident.channel.create']);
    });
  });

  describe('when naming the channel', () => {
    it('keeps it lowercase [a-z0-9-], at most 80 characters, dated in UTC', () => {
      const name = incidentChannelName('INC-1', `Ünïcode & ${'very long title '.repeat(10)}`, Date.UTC(1999, 11, 31, 23, 0));
      expect(name).toMatch(/^inc-19991231-[a-z0-9-]+$/);
      expect(name.length).toBeLessThanOrEqual(80);
      expect(name.endsWith('-')).toBe(false);
    });

    it('falls back to the incident id when the title has no letters or digits', () => {
      expect(incidentChannelName('INC-12', '🔥🔥', Date.UTC(2024, 1, 29))).toBe('inc-20240229-inc-12');
    });
  });

  describe('when acknowledged', () => {
    it('moves to acknowledged, records who and when, cancels pending timers, posts and updates the summary', () => {
      const inc = new Driver({ ackEscalation: ladder });
      expect(inc.send({ type: 'incident.acknowledge', by: bob, source: 'slack', at: T0 + MIN })).toBe(true);
      expect(inc.status).toBe('acknowledged');
      expect(inc.context.acknowledged).toEqual({ by: bob, at: T0 + MIN });
      expect(inc.context.timeline.at(-1)).toMatchObject({ type: 'incident.acknowledged', actor: bob, at: T0 + MIN });
      expect(inc.effects).toEqual([
        { kind: 'timer.cancel', timerId: 'ack-0' },
        { kind: 'timer.cancel', timerId: 'ack-1' },
        { kind: 'incident.post', text: '✋ INC-7 acknowledged by bob' },
        { kind: 'incident.summary.update' },
      ]);
    });

    it('mirrors the move to PagerDuty when the incident has one and the move came from elsewhere', () => {
      const inc = new Driver({ pagerDuty: { incidentId: 'PD1' } });
      inc.send({ type: 'incident.acknowledge', by: bob, source: 'slack', at: T0 + MIN });
      expect(inc.effects).toContainEqual({ kind: 'pagerduty.status', status: 'acknowledged' });
    });

    it('does not echo a move PagerDuty told us about back to PagerDuty', () => {
      const inc = new Driver({ pagerDuty: { incidentId: 'PD1' } });
      inc.send({ type: 'incident.acknowledge', by: pd, source: 'pagerduty', at: T0 + MIN });
      expect(inc.status).toBe('acknowledged');
      expect(inc.kinds()).not.toContain('pagerduty.status');
    });

    it('ignores a second acknowledgement with already_acknowledged and keeps the first', () => {
      const inc = new Driver();
      inc.send({ type: 'incident.acknowledge', by: bob, source: 'slack', at: T0 + MIN });
      expect(inc.send({ type: 'incident.acknowledge', by: alice, source: 'cli', at: T0 + 2 * MIN })).toBe(false);
      expect(inc.reason).toBe('already_acknowledged');
      expect(inc.context.acknowledged?.by).toEqual(bob);
      expect(inc.effects).toEqual([]);
    });
  });

  describe('when mitigation starts', () => {
    it('from triggered implies an acknowledgement by the same person and cancels the timers', () => {
      const inc = new Driver({ ackEscalation: ladder, pagerDuty: { incidentId: 'PD1' } });
      expect(inc.send({ type: 'incident.mitigate', by: bob, source: 'slack', reason: 'rolling back', at: T0 + 3 * MIN })).toBe(true);
      expect(inc.status).toBe('mitigating');
      expect(inc.context.acknowledged).toEqual({ by: bob, at: T0 + 3 * MIN });
      expect(inc.context.mitigating).toEqual({ by: bob, at: T0 + 3 * MIN });
      expect(inc.context.timeline.map((t) => t.type)).toEqual(['incident.triggered', 'incident.acknowledged', 'incident.mitigating']);
      expect(inc.kinds()).toEqual(['timer.cancel', 'timer.cancel', 'pagerduty.status', 'incident.post', 'incident.summary.update']);
      expect(inc.effects).toContainEqual({ kind: 'incident.post', text: '🛠 INC-7 mitigating (bob): rolling back' });
    });

    it('from acknowledged keeps the acknowledgement and cancels nothing', () => {
      const inc = new Driver({ ackEscalation: ladder });
      inc.send({ type: 'incident.acknowledge', by: bob, source: 'slack', at: T0 + MIN });
      inc.send({ type: 'incident.mitigate', by: alice, source: 'cli', at: T0 + 2 * MIN });
      expect(inc.context.acknowledged?.by).toEqual(bob);
      expect(inc.kinds()).toEqual(['incident.post', 'incident.summary.update']);
    });

    it('twice is ignored with already_mitigating', () => {
      const inc = new Driver();
      inc.send({ type: 'incident.mitigate', by: bob, source: 'slack' });
      expect(inc.send({ type: 'incident.mitigate', by: bob, source: 'slack' })).toBe(false);
      expect(inc.reason).toBe('already_mitigating');
    });
  });

  describe('when resolved', () => {
    it('from triggered ends the incident, cancels timers and syncs PagerDuty with the resolution', () => {
      const inc = new Driver({ ackEscalation: ladder, pagerDuty: { incidentId: 'PD1' } });
      expect(inc.send({ type: 'incident.resolve', by: alice, source: 'cli', resolution: 'false alarm', at: T0 + 5 * MIN })).toBe(true);
      expect(inc.status).toBe('resolved');
      expect(inc.snapshot.status).toBe('done');
      expect(inc.context.resolved).toEqual({ by: alice, at: T0 + 5 * MIN, resolution: 'false alarm' });
      expect(inc.context.acknowledged).toBeNull();
      expect(inc.effects).toEqual([
        { kind: 'timer.cancel', timerId: 'ack-0' },
        { kind: 'timer.cancel', timerId: 'ack-1' },
        { kind: 'pagerduty.status', status: 'resolved', resolution: 'false alarm' },
        { kind: 'incident.post', text: '✅ INC-7 resolved by alice: false alarm' },
        { kind: 'incident.summary.update' },
      ]);
    });

    it('from mitigating cancels no timers (they were cancelled on acknowledgement)', () => {
      const inc = new Driver({ ackEscalation: ladder });
      inc.send({ type: 'incident.mitigate', by: bob, source: 'slack' });
      inc.send({ type: 'incident.resolve', by: bob, source: 'slack' });
      expect(inc.status).toBe('resolved');
      expect(inc.kinds()).toEqual(['incident.post', 'incident.summary.update']);
    });

    it('ignores every later event with incident_resolved', () => {
      const inc = new Driver();
      inc.send({ type: 'incident.resolve', by: bob, source: 'slack' });
      for (const event of [
        { type: 'incident.acknowledge', by: bob, source: 'slack' },
        { type: 'incident.resolve', by: bob, source: 'slack' },
        { type: 'incident.note', by: bob, text: 'late' },
        { type: 'timer.fired', timerId: 'ack-0' },
      ] as const) {
        expect(inc.send(event)).toBe(false);
        expect(inc.reason).toBe('incident_resolved');
      }
      expect(inc.context.timeline).toHaveLength(2);
    });
  });

  describe('when an ack timer fires', () => {
    it('fires the escalation of a pending rung once, with a timeline entry', () => {
      const inc = new Driver({ ackEscalation: ladder });
      expect(inc.send({ type: 'timer.fired', timerId: 'ack-0', at: T0 + 10 * MIN })).toBe(true);
      expect(inc.effects).toEqual([
        { kind: 'escalation.fire', rung: 0, notify: ['@ml-oncall'], reason: 'not acknowledged within 10m' },
        { kind: 'incident.summary.update' },
      ]);
      expect(inc.context.escalated).toEqual([0]);
      expect(inc.context.timeline.at(-1)).toMatchObject({ type: 'escalation.fired', at: T0 + 10 * MIN, actor: { id: 'system' }, text: 'Escalation 1: not acknowledged within 10m; reminded @ml-oncall' });
      expect(inc.send({ type: 'timer.fired', timerId: 'ack-0' })).toBe(false);
      expect(inc.reason).toBe('timer_not_pending');
      expect(inc.send({ type: 'timer.fired', timerId: 'ack-1', at: T0 + 20 * MIN })).toBe(true);
      expect(inc.effects[0]).toEqual({ kind: 'escalation.fire', rung: 1, page: { escalationPolicy: 'PABC123' }, reason: 'not acknowledged within 20m' });
    });

    it('acknowledging after a rung fired cancels only the rungs still pending', () => {
      const inc = new Driver({ ackEscalation: ladder });
      inc.send({ type: 'timer.fired', timerId: 'ack-0' });
      inc.send({ type: 'incident.acknowledge', by: bob, source: 'slack' });
      expect(inc.effects.filter((e) => e.kind === 'timer.cancel')).toEqual([{ kind: 'timer.cancel', timerId: 'ack-1' }]);
    });

    it('is ignored with timer_not_pending once acknowledged, and for unknown timers', () => {
      const inc = new Driver({ ackEscalation: ladder });
      expect(inc.send({ type: 'timer.fired', timerId: 'ack-9' })).toBe(false);
      expect(inc.send({ type: 'timer.fired', timerId: 'bogus' })).toBe(false);
      inc.send({ type: 'incident.acknowledge', by: bob, source: 'slack' });
      expect(inc.send({ type: 'timer.fired', timerId: 'ack-1' })).toBe(false);
      expect(inc.reason).toBe('timer_not_pending');
      expect(inc.context.escalated).toEqual([]);
    });
  });

  describe('when the channel and summary are reported', () => {
    it('records the channel with a timeline entry and asks for the summary', () => {
      const inc = new Driver();
      expect(inc.send({ type: 'incident.channel_created', channel: { channelId: 'C1', name: 'inc-20240501-x' }, at: T0 + 1_000 })).toBe(true);
      expect(inc.context.slack).toEqual({ channelId: 'C1', name: 'inc-20240501-x' });
      expect(inc.context.timeline.at(-1)).toMatchObject({ type: 'channel.created', text: 'Slack channel #inc-20240501-x created' });
      expect(inc.effects).toEqual([{ kind: 'incident.summary.update' }]);
      expect(inc.send({ type: 'incident.channel_created', channel: { channelId: 'C2', name: 'other' } })).toBe(false);
      expect(inc.reason).toBe('channel_exists');
    });

    it('stores the summary ts silently, and refuses it before there is a channel', () => {
      const inc = new Driver();
      expect(inc.send({ type: 'incident.summary_posted', ts: '1.1' })).toBe(false);
      expect(inc.reason).toBe('no_channel');
      inc.send({ type: 'incident.channel_created', channel: { channelId: 'C1', name: 'n' } });
      const entries = inc.context.timeline.length;
      expect(inc.send({ type: 'incident.summary_posted', ts: '1.1' })).toBe(true);
      expect(inc.context.slack?.summaryTs).toBe('1.1');
      expect(inc.effects).toEqual([]);
      expect(inc.context.timeline).toHaveLength(entries);
      expect(inc.send({ type: 'incident.summary_posted', ts: '1.1' })).toBe(false);
      expect(inc.reason).toBe('summary_unchanged');
    });
  });

  describe('when timeline-worthy things happen', () => {
    it('appends notes, alerts, reassignments, run events and PagerDuty links, each with a summary update', () => {
      const inc = new Driver();
      const events: IncidentEvent[] = [
        { type: 'incident.note', by: bob, text: ' restarted the pods ', at: T0 + 1 },
        { type: 'incident.alert', by: pd, text: 'p99 > 2s', data: { service: 'serving' }, at: T0 + 2 },
        { type: 'incident.reassigned', by: pd, to: ['UCAROL'], at: T0 + 3 },
        { type: 'incident.pagerduty_linked', pagerDuty: { incidentId: 'PD9', number: 42 }, at: T0 + 4 },
        { type: 'incident.run_started', runId: 'R1', runbookId: 'diagnose-latency', by: pd, auto: true, at: T0 + 5 },
        { type: 'incident.run_event', runId: 'R1', text: 'approval requested', by: SYSTEM_PERSON, at: T0 + 6 },
        { type: 'incident.run_finished', runId: 'R1', runbookId: 'diagnose-latency', status: 'succeeded', at: T0 + 7 },
      ];
      for (const event of events) {
        expect(inc.send(event)).toBe(true);
        expect(inc.effects).toEqual([{ kind: 'incident.summary.update' }]);
      }
      expect(inc.status).toBe('triggered');
      expect(inc.context.runs).toEqual(['R1']);
      expect(inc.context.pagerDuty).toEqual({ incidentId: 'PD9', number: 42 });
      expect(inc.context.timeline.slice(1).map((t) => [t.type, t.at, t.text])).toEqual([
        ['note.added', T0 + 1, 'restarted the pods'],
        ['alert.received', T0 + 2, 'p99 > 2s'],
        ['incident.reassigned', T0 + 3, 'Reassigned to UCAROL'],
        ['pagerduty.linked', T0 + 4, 'Linked to PagerDuty incident #42'],
        ['run.started', T0 + 5, 'Auto-started runbook diagnose-latency (run R1)'],
        ['run.event', T0 + 6, 'approval requested'],
        ['run.finished', T0 + 7, 'Run R1 of diagnose-latency succeeded'],
      ]);
    });

    it('refuses duplicates and empty text with a reason', () => {
      const inc = new Driver({ pagerDuty: { incidentId: 'PD1' } });
      const cases: [IncidentEvent, string][] = [
        [{ type: 'incident.note', by: bob, text: '   ' }, 'empty_text'],
        [{ type: 'incident.reassigned', by: pd, to: [] }, 'no_assignees'],
        [{ type: 'incident.pagerduty_linked', pagerDuty: { incidentId: 'PD1' } }, 'already_linked'],
        [{ type: 'incident.pagerduty_linked', pagerDuty: { incidentId: 'PD2' } }, 'linked_to_other_pagerduty_incident'],
      ];
      for (const [event, reason] of cases) {
        expect(inc.send(event)).toBe(false);
        expect(inc.reason).toBe(reason);
      }
      inc.send({ type: 'incident.run_started', runId: 'R1', runbookId: 'x', by: bob, auto: false });
      expect(inc.send({ type: 'incident.run_started', runId: 'R1', runbookId: 'x', by: bob, auto: false })).toBe(false);
      expect(inc.reason).toBe('run_already_linked');
      inc.send({ type: 'incident.run_finished', runId: 'R1', runbookId: 'x', status: 'failed' });
      expect(inc.send({ type: 'incident.run_finished', runId: 'R1', runbookId: 'x', status: 'failed' })).toBe(false);
      expect(inc.reason).toBe('run_already_finished');
    });
  });

  describe('when the snapshot goes through JSON', () => {
    it('continues from the stored form exactly as from the live one', () => {
      const inc = new Driver({ ackEscalation: ladder });
      inc.send({ type: 'incident.acknowledge', by: bob, source: 'slack' });
      inc.snapshot = JSON.parse(JSON.stringify(inc.snapshot)) as PersistedIncident;
      expect(inc.send({ type: 'incident.resolve', by: bob, source: 'slack' })).toBe(true);
      expect(inc.status).toBe('resolved');
    });
  });
});

const SYSTEM_PERSON: Person = { id: 'system' };

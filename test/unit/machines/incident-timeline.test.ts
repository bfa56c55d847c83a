import { describe, expect, it } from 'vitest';
import { applyIncidentEvent, incidentStatusOf, startIncident, type PersistedIncident } from '../../../src/machines/incident-machine.ts';
import { incidentTimelineView, renderIncidentTimeline } from '../../../src/machines/incident-timeline.ts';
import type { IncidentEvent } from '../../../src/machines/incident-types.ts';

const T0 = Date.UTC(2024, 4, 1, 14, 0, 0);
const MIN = 60_000;
const alice = { id: 'UALICE', name: 'alice' };
const bob = { id: 'cli:bob', name: 'bob' };

function scripted(events: IncidentEvent[], pagerDuty = true): PersistedIncident {
  let snapshot = startIncident({
    id: 'INC-3', title: 'Checkout | p99 > 2s', severity: 'sev1', source: 'pagerduty', declaredBy: { id: 'pagerduty', name: 'PagerDuty' }, createdAt: T0,
    ...(pagerDuty ? { pagerDuty: { incidentId: 'PT4KHLK', number: 1234, htmlUrl: 'https://acme.pagerduty.com/incidents/PT4KHLK' } } : {}),
    ackEscalation: [{ afterMs: 5 * MIN, notify: ['@sre'] }],
  }).snapshot;
  for (const event of events) snapshot = applyIncidentEvent(snapshot, event).snapshot;
  return snapshot;
}

const view = (s: PersistedIncident) => ({ id: s.context.id, status: incidentStatusOf(s), context: s.context });

describe('renderIncidentTimeline', () => {
  describe('when the incident ran its course', () => {
    const snapshot = scripted([
      { type: 'incident.channel_created', channel: { channelId: 'C1', name: 'inc-20240501-checkout-p99-2s' }, at: T0 + 2_000 },
      { type: 'timer.fired', timerId: 'ack-0', at: T0 + 5 * MIN },
      { type: 'incident.acknowledge', by: alice, source: 'slack', at: T0 + 7 * MIN },
      { type: 'incident.run_started', runId: 'R1', runbookId: 'diagnose-latency', by: alice, auto: false, at: T0 + 8 * MIN },
      { type: 'incident.note', by: bob, text: 'rolled back\nmodel-x to v6', at: T0 + 20 * MIN },
      { type: 'incident.run_finished', runId: 'R1', runbookId: 'diagnose-latency', status: 'succeeded', at: T0 + 21 * MIN },
      { type: 'incident.resolve', by: bob, source: 'cli', resolution: 'rolled back', at: T0 + 62 * MIN },
    ]);
    const md = renderIncidentTimeline(view(snapshot));

    it('heads it with title, severity, PagerDuty link, who moved it and how long it took', () => {
      expect(md.startsWith('# INC-3: Checkout \\| p99 > 2s\n')).toBe(true);
      expect(md).toContain('| Severity | SEV1 |');
      expect(md).toContain('| PagerDuty | [#1234 (PT4KHLK)](https://acme.pagerduty.com/incidents/PT4KHLK) |');
      expect(md).toContain('| Acknowledged | 2024-05-01 14:07:00 UTC by alice (UALICE) (time to acknowledge 7m) |');
      expect(md).toContain('| Resolved | 2024-05-01 15:02:00 UTC by bob (cli:bob) (time to resolve 1h2m) |');
      expect(md).toContain('| Resolution | rolled back |');
      expect(md).toContain('| Escalations fired | 1 |');
      expect(md).toContain('| Slack channel | #inc-20240501-checkout-p99-2s |');
    });

    it('lists the runs with their final states, preferring what the run store says', () => {
      expect(md).toContain('| R1 | diagnose-latency | succeeded |');
      expect(renderIncidentTimeline(view(snapshot), [{ id: 'R1', runbookId: 'diagnose-latency', status: 'rolled_back' }])).toContain('| R1 | diagnose-latency | rolled_back |');
    });

    it('ends with every entry in chronological UTC order, one line each', () => {
      const rows = md.split('## Timeline (UTC)')[1]?.trim().split('\n').slice(2) ?? [];
      expect(rows.map((r) => r.split(' | ')[1])).toEqual([
        'incident.triggered', 'channel.created', 'escalation.fired', 'incident.acknowledged', 'run.started', 'note.added', 'run.finished', 'incident.resolved',
      ]);
      expect(rows[0]).toBe('| 2024-05-01 14:00:00 | incident.triggered | PagerDuty (pagerduty) | SEV1 incident declared: Checkout \\| p99 > 2s |');
      expect(rows[5]).toBe('| 2024-05-01 14:20:00 | note.added | bob (cli:bob) | rolled back model-x to v6 |');
    });
  });

  describe('when nothing has happened yet', () => {
    it('says so rather than inventing times', () => {
      const md = renderIncidentTimeline(view(scripted([], false)));
      expect(md).toContain('| Acknowledged | no |');
      expect(md).toContain('| Resolved | no |');
      expect(md).toContain('| PagerDuty | none |');
      expect(md).toContain('No runs were started for this incident.');
      expect(incidentTimelineView(view(scripted([], false))).acknowledged).toBeNull();
    });
  });
});

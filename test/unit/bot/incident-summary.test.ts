import { describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../../src/engine/incident-port.ts';
import type { IncidentContext } from '../../../src/machines/incident-types.ts';
import { renderIncidentSummary } from '../../../src/bot/views/incident-summary.ts';

const T0 = Date.UTC(2025, 0, 31, 9, 0, 0);

function incident(overrides: Partial<IncidentContext> = {}, status: IncidentRecord['status'] = 'triggered'): IncidentRecord {
  const context: IncidentContext = {
    id: 'INC-7', title: 'Model latency high', severity: 'sev2', source: 'slack', declaredBy: { id: 'U0REQUEST1', name: 'alice' }, createdAt: T0,
    pagerDuty: null, slack: { channelId: 'C0NEW00001', name: 'inc-20250131-model-latency-high' }, responders: ['U0REQUEST1'], ackEscalation: [],
    acknowledged: null, mitigating: null, resolved: null, runs: [], escalated: [],
    timeline: [{ at: T0, type: 'incident.triggered', actor: { id: 'U0REQUEST1', name: 'alice' }, text: 'SEV2 incident declared: Model latency high' }],
    ...overrides,
  };
  return { id: context.id, status, context, version: 3, createdAt: T0, updatedAt: T0 + 60_000 };
}

const everything = (m: { text: string; blocks?: readonly unknown[] }) => `${m.text}\n${JSON.stringify(m.blocks)}`;

describe('renderIncidentSummary', () => {
  describe('when the incident was just declared', () => {
    it('shows id, title, severity, who declared it, the time since trigger and that nobody acknowledged it', () => {
      const summary = renderIncidentSummary(incident(), { now: T0 + 12 * 60_000 });
      const text = everything(summary);
      expect(summary.text).toBe('INC-7 Model latency high (sev2): triggered');
      expect(text).toContain('*INC-7 · Model latency high*');
      expect(text).toContain('*Severity:* SEV2');
      expect(text).toContain('*Declared by:* <@U0REQUEST1>');
      expect(text).toContain('*Triggered:* 12m00s ago');
      expect(text).toContain('Triggered, not acknowledged yet');
      expect(text).toContain('_none yet_');
      expect(text).toContain('SEV2 incident declared: Model latency high');
    });
  });

  describe('when it was acknowledged and then resolved', () => {
    it('says who moved it and when, the resolution, and how long it lasted', () => {
      const acked = renderIncidentSummary(incident({ acknowledged: { by: { id: 'U0APPROVE1', name: 'bob' }, at: T0 + 60_000 } }, 'acknowledged'), { now: T0 + 120_000 });
      expect(everything(acked)).toContain(`Acknowledged by <@U0APPROVE1> at <!date^${(T0 + 60_000) / 1000}^`);
      const resolved = renderIncidentSummary(incident({ resolved: { by: { id: 'U0APPROVE1', name: 'bob' }, at: T0 + 30 * 60_000, resolution: 'rolled back' } }, 'resolved'), { now: T0 + 90 * 60_000 });
      const text = everything(resolved);
      expect(text).toContain('Resolved by <@U0APPROVE1>');
      expect(text).toContain('*Resolution:* rolled back');
      expect(text).toContain('*Lasted:* 30m00s');
    });
  });

  describe('when it has runs, a PagerDuty incident and a long timeline', () => {
    it('lists the runs with their states, links PagerDuty and shows only the latest entries', () => {
      const timeline = Array.from({ length: 10 }, (_, i) => ({ at: T0 + i * 1_000, type: 'note.added', actor: { id: 'system' }, text: `entry ${i}` }));
      const summary = renderIncidentSummary(
        incident({ runs: ['01RUNA', '01RUNB'], timeline, pagerDuty: { incidentId: 'PINC1', number: 42, htmlUrl: 'https://acme.pagerduty.com/incidents/PINC1', serviceName: 'model-serving' } }),
        { now: T0, runs: [{ id: '01RUNA', runbookId: 'rollback-model', status: 'succeeded' }, { id: '01RUNB', runbookId: 'diagnose-latency', status: 'active' }], timelineEntries: 3 },
      );
      const text = everything(summary);
      expect(text).toContain('✅ `rollback-model` `01RUNA` — succeeded');
      expect(text).toContain('⏳ `diagnose-latency` `01RUNB` — active');
      expect(text).toContain('<https://acme.pagerduty.com/incidents/PINC1|#42> on model-serving');
      expect(text).toContain('entry 9');
      expect(text).toContain('entry 7');
      expect(text).not.toContain('entry 6');
    });
  });

  describe('when user-provided text holds Slack control characters', () => {
    it('escapes <, > and & so a title or resolution can neither ping nor link', () => {
      const title = '<!channel> p99 > 2s & <@U024BE7LH> <https://evil.example|click>';
      const summary = renderIncidentSummary(
        incident({ title, resolved: { by: { id: 'cli:eve', name: '<!here>' }, at: T0 + 1, resolution: '<!everyone> fixed' }, timeline: [{ at: T0, type: 'note.added', actor: { id: 'x', name: '<@U1>' }, text: title }] }, 'resolved'),
        { now: T0 },
      );
      const text = everything(summary);
      expect(text).toContain('&lt;!channel&gt; p99 &gt; 2s &amp; &lt;@U024BE7LH&gt; &lt;https://evil.example|click&gt;');
      expect(text).toContain('&lt;!everyone&gt; fixed');
      expect(text).not.toMatch(/<!channel>|<!here>|<!everyone>|<@U024BE7LH>|<https:\/\/evil/);
      expect(summary.text).not.toContain('<!channel>');
    });
    it('does not link a PagerDuty URL that could break out of the link', () => {
      const summary = renderIncidentSummary(incident({ pagerDuty: { incidentId: 'PINC1', htmlUrl: 'https://x.example/a|<!channel>' } }), { now: T0 });
      expect(everything(summary)).not.toContain('<!channel>');
      expect(everything(summary)).toContain('*PagerDuty:* PINC1');
    });
  });
});

import { describe, expect, it } from 'vitest';
import { composeIncidentEffectHandlers } from '../../../src/bot/incident-effects.ts';
import { autoRunId, pagerDutyRefOf, severityOf } from '../../../src/bot/pagerduty-events.ts';
import { summarizeFindings } from '../../../src/bot/pagerduty-findings.ts';
import type { RunRecord } from '../../../src/engine/run-store.ts';
import type { IncidentEffectJob } from '../../../src/engine/incident-port.ts';
import { parsePagerDutyEvent } from '../../../src/integrations/pagerduty-webhook-event.ts';
import { buildWebhookEvent, buildWebhookIncident, buildWebhookNote } from '../../../src/sandbox/pagerduty-webhooks.ts';
import { RunDriver, valid } from '../../helpers/runbooks.ts';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('autoRunId', () => {
  describe('when called for the same incident and runbook', () => {
    it('gives the same ULID every time, and another for another runbook or incident', () => {
      const id = autoRunId('INC-7', 'diagnose-model-latency', 1_790_000_000_000);
      expect(id).toMatch(ULID);
      expect(autoRunId('INC-7', 'diagnose-model-latency', 1_790_000_000_000)).toBe(id);
      expect(autoRunId('INC-7', 'other', 1_790_000_000_000)).not.toBe(id);
      expect(autoRunId('INC-8', 'diagnose-model-latency', 1_790_000_000_000)).not.toBe(id);
    });

    it('sorts by the incident creation time like any run id', () => {
      expect(autoRunId('INC-1', 'r', 1_000).localeCompare(autoRunId('INC-1', 'r', 2_000_000_000_000))).toBeLessThan(0);
    });
  });
});

describe('severityOf', () => {
  describe('when the incident has a priority', () => {
    it.each([['P1', 'sev1'], ['P2', 'sev2'], ['P3', 'sev3'], ['P5', 'sev3']] as const)('maps %s to %s, whatever the urgency', (summary, severity) => {
      expect(severityOf({ priority: { id: 'X', summary }, urgency: 'low' })).toBe(severity);
    });
  });

  describe('when it has none', () => {
    it('maps high urgency to sev2 and low to sev3', () => {
      expect(severityOf({ priority: null, urgency: 'high' })).toBe('sev2');
      expect(severityOf({ urgency: 'low' })).toBe('sev3');
    });
  });
});

describe('parsePagerDutyEvent', () => {
  const incident = buildWebhookIncident({ id: 'Q1', number: 3, title: 'Disk full', status: 'triggered', urgency: 'low', service: { id: 'PSVC002', name: 'feature-pipeline' }, incidentKey: 'k1' });

  describe('when given an incident event built like PagerDuty sends it', () => {
    it('returns the incident, and its reference for the incident service', () => {
      const parsed = parsePagerDutyEvent(buildWebhookEvent('incident.triggered', incident));
      if (!parsed.ok || !parsed.incident) throw new Error('expected an incident');
      expect(pagerDutyRefOf(parsed.incident)).toEqual({ incidentId: 'Q1', number: 3, htmlUrl: 'https://acme.pagerduty.com/incidents/Q1', serviceId: 'PSVC002', serviceName: 'feature-pipeline', urgency: 'low', escalationPolicyId: 'PEP0001', incidentKey: 'k1' });
    });
  });

  describe('when given a note event', () => {
    it('returns the note and its incident reference', () => {
      const parsed = parsePagerDutyEvent(buildWebhookEvent('incident.annotated', buildWebhookNote({ id: 'Q1', title: 'Disk full' }, { id: 'N1', content: 'looking' })));
      expect(parsed).toMatchObject({ ok: true, note: { content: 'looking', incident: { id: 'Q1', summary: 'Disk full' } } });
    });
  });

  describe('when given an event type the bot ignores', () => {
    it('accepts it with only the envelope checked', () => {
      expect(parsePagerDutyEvent(buildWebhookEvent('pagey.ping', {}))).toMatchObject({ ok: true });
    });
  });

  describe('when the shape is wrong', () => {
    it('lists every problem with its path', () => {
      const parsed = parsePagerDutyEvent({ event: { id: '', event_type: 'incident.triggered', data: [] } });
      expect(parsed.ok).toBe(false);
      expect(parsed.ok ? [] : parsed.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^event\.id: /), expect.stringMatching(/^event\.data: /)]));
    });
  });
});

describe('summarizeFindings', () => {
  const runbook = valid(`---
id: findings
title: Findings fixture
params:
  model: { type: string }
  token: { type: string, secret: true }
---
# Findings

## Read it {#read}
\`\`\`http
url: "https://metrics.ml.internal/{{ params.model }}"
\`\`\`

## Read more {#more}
\`\`\`http
url: "https://metrics.ml.internal/{{ params.model }}"
\`\`\`

## Change it {#change}
\`\`\`approve
message: ok?
\`\`\`
`);

  function runAfter(outputs: unknown[], params = { model: 'model-x', token: 'tok-123456' }): RunRecord {
    const driver = new RunDriver(runbook, { params });
    for (const output of outputs) driver.succeed(output);
    return { id: 'RUN1', runbookId: 'findings', runbookFile: 'f.md', source: '', sourceHash: '', params, requester: { id: 'pagerduty' }, status: 'active', snapshot: driver.snapshot, version: 1, createdAt: 0, updatedAt: 0 };
  }

  describe('when the run waits for an approval after its read-only steps', () => {
    it('lists each step output and says what it waits for', () => {
      const text = summarizeFindings(runAfter([{ p99: 950 }, { ok: true }]), runbook, 400);
      expect(text).toContain('Findings fixture (findings), run RUN1');
      expect(text).toContain('- Read it: {"p99":950}');
      expect(text).toContain('- Read more: {"ok":true}');
      expect(text).toContain('Now waiting for an approval in Slack: "Change it"');
    });
  });

  describe('when an output holds secrets or is long', () => {
    it('redacts secret params and secret-looking values, and truncates', () => {
      const text = summarizeFindings(runAfter([{ echoed: 'tok-123456', authorization: 'Bearer abc', slack: 'xoxb-1-2-3' }, { big: 'y'.repeat(5_000) }]), runbook, 200);
      expect(text).not.toContain('tok-123456');
      expect(text).not.toContain('Bearer abc');
      expect(text).not.toContain('xoxb-1-2-3');
      expect(text).toContain('[redacted]');
      const line = text.split('\n').find((l) => l.startsWith('- Read more'));
      expect(line?.length).toBeLessThanOrEqual(200 + '- Read more: '.length);
      expect(line?.endsWith('…')).toBe(true);
    });
  });
});

describe('composeIncidentEffectHandlers', () => {
  const job = (kind: 'pagerduty.note' | 'incident.post'): IncidentEffectJob => ({ incidentId: 'INC-1', version: 2, effect: kind === 'pagerduty.note' ? { kind, content: 'x' } : { kind, text: 'x' } });

  describe('when parts claim kinds', () => {
    it('sends each job to the first part claiming its kind, and drops kinds no one claims', async () => {
      const seen: string[] = [];
      const handler = composeIncidentEffectHandlers([
        { kinds: ['pagerduty.note'], handle: async (j) => void seen.push(`pd:${j.effect.kind}`) },
        { kinds: ['pagerduty.note', 'incident.channel.create'], handle: async (j) => void seen.push(`second:${j.effect.kind}`) },
      ], { info: () => undefined, warn: () => undefined, error: () => undefined });
      await handler(job('pagerduty.note'));
      await handler(job('incident.post'));
      expect(seen).toEqual(['pd:pagerduty.note']);
    });

    it('lets a part failure reach the queue (for its retry)', async () => {
      const handler = composeIncidentEffectHandlers([{ kinds: ['pagerduty.note'], handle: async () => { throw new Error('down'); } }], { info: () => undefined, warn: () => undefined, error: () => undefined });
      await expect(handler(job('pagerduty.note'))).rejects.toThrow('down');
    });
  });
});

import { describe, expect, it } from 'vitest';
import { renderRunMessage } from '../../../src/bot/run-message/index.ts';
import type { RunRecord } from '../../../src/engine/run-store.ts';
import type { Person } from '../../../src/machines/run-types.ts';
import { RunDriver, valid } from '../../helpers/runbooks.ts';

const T0 = 1_700_000_000_000;
const pagerduty: Person = { id: 'pagerduty', name: 'PagerDuty' };

const runbook = valid(`---
title: Diagnose latency
approval:
  escalation:
    - after: 10m
      notify: ["@ml-oncall-leads"]
    - after: 20m
      page: { escalation_policy: PABC123 }
---
# Diagnose

## Read metrics {#metrics}
\`\`\`http
url: http://metrics.internal/latency
\`\`\`

## Restart serving {#restart}
\`\`\`run
argv: [modelctl, restart]
timeout: 2m
\`\`\`
`);

const asRun = (d: RunDriver): RunRecord => ({
  id: 'RUN1', runbookId: runbook.id, runbookFile: 'diag.md', source: '', sourceHash: 'h', params: {}, requester: pagerduty, status: 'active',
  snapshot: d.snapshot, version: 3, createdAt: T0, updatedAt: T0, origin: { kind: 'pagerduty', incidentId: 'Q1ABC' },
});

const text = (run: RunRecord) => JSON.stringify(renderRunMessage(run, runbook, T0 + 30 * 60_000).blocks);

describe('the run message of an auto-started run', () => {
  describe('when it waits at the confirmation gate and rungs fired', () => {
    it('shows the confirmation request and what was escalated', () => {
      const d = new RunDriver(runbook, { runId: 'RUN1', requester: pagerduty, autoStarted: true, autoStartedBy: 'Q1ABC', startedAt: T0 });
      d.succeed({ p99: 900 });
      d.send({ type: 'timer.fired', timerId: 'restart.escalate.0', at: T0 + 600_000 });
      d.send({ type: 'timer.fired', timerId: 'restart.escalate.1', at: T0 + 1_200_000 });
      const blocks = text(asRun(d));
      expect(blocks).toContain('Started automatically by PagerDuty incident Q1ABC: approve before “Restart serving” changes anything');
      expect(blocks).toMatch(/⏰ Reminded @ml-oncall-leads at <!date\^1700000600\^[^>]*> · Paged PABC123 at <!date\^1700001200\^/);
    });
  });

  describe('when no rung fired yet', () => {
    it('shows no escalation line', () => {
      const d = new RunDriver(runbook, { runId: 'RUN1', requester: pagerduty, autoStarted: true, startedAt: T0 });
      d.succeed();
      expect(text(asRun(d))).not.toContain('⏰');
    });
  });
});

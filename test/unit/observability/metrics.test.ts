import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { composeObservers } from '../../../src/observability/observer.ts';
import { costOf } from '../../../src/observability/cost.ts';

const run = { runId: 'r1', runbook: 'rollback-model', costCenter: 'ml-platform' };
const step = { ...run, stepId: 'current', executor: 'ssm', phase: 'do' as const, attempt: 1 };

describe('createMetrics', () => {
  describe('when the hooks report a run', () => {
    it('exposes runs, steps, approvals, escalations, audit, jobs and cost with their labels', async () => {
      const metrics = createMetrics({ processMetrics: false });
      metrics.runStarted(run);
      metrics.stepFinished({ ...step, outcome: 'succeeded', durationMs: 2_000, output: { targetCount: 3 } });
      metrics.stepFinished({ ...step, stepId: 'bf', executor: 'backfill', outcome: 'succeeded', durationMs: 10, output: { done: 7, skipped_already_done: 2 } });
      metrics.approvalClosed({ runbook: 'rollback-model', group: '@ml-oncall-leads', outcome: 'approved', waitMs: 90_000 });
      metrics.slaEscalated({ kind: 'page' });
      metrics.auditAppended({ records: 3, durationMs: 4, ok: true });
      metrics.jobStarted({ queue: 'steps', waitMs: 12 });
      metrics.runFinished({ ...run, status: 'succeeded', durationMs: 120_000 });
      const { body, contentType } = await metrics.render();
      expect(contentType).toContain('text/plain');
      expect(body).toContain('runbook_runs_started_total{runbook="rollback-model",cost_center="ml-platform"} 1');
      expect(body).toContain('runbook_runs_finished_total{runbook="rollback-model",state="succeeded",cost_center="ml-platform"} 1');
      expect(body).toContain('runbook_step_duration_seconds_count{executor="ssm",phase="do",outcome="succeeded"} 1');
      expect(body).toContain('runbook_cost_units_total{cost_center="ml-platform",executor="ssm",unit="instance_seconds"} 6');
      expect(body).toContain('runbook_cost_units_total{cost_center="ml-platform",executor="backfill",unit="partitions"} 5');
      expect(body).toContain('runbook_approval_wait_seconds_sum{runbook="rollback-model",approver_group="@ml-oncall-leads",outcome="approved"} 90');
      expect(body).toContain('runbook_sla_escalations_total{kind="page"} 1');
      expect(body).toContain('runbook_audit_append_seconds_count{outcome="ok"} 1');
      expect(body).toContain('runbook_job_wait_seconds_count{queue="steps"} 1');
      expect(body).toContain('runbook_run_duration_seconds_sum{runbook="rollback-model",state="succeeded"} 120');
    });
  });

  describe('when incidents are reported', () => {
    it('exposes time to acknowledge and resolve and the automatic-diagnostics pair', async () => {
      const metrics = createMetrics({ processMetrics: false });
      const before = (await metrics.render()).body;
      expect(before).toContain('runbook_incident_diagnostics_total{mode="automatic"} 0');
      metrics.incidentDeclared({ source: 'pagerduty', severity: 'sev2' });
      metrics.incidentAcknowledged({ severity: 'sev2', ms: 30_000 });
      metrics.incidentResolved({ severity: 'sev2', ms: 3_600_000 });
      metrics.incidentDiagnosed({ automatic: true });
      const { body } = await metrics.render();
      expect(body).toContain('runbook_incidents_total{source="pagerduty",severity="sev2"} 1');
      expect(body).toContain('runbook_incident_time_to_acknowledge_seconds_sum{severity="sev2"} 30');
      expect(body).toContain('runbook_incident_time_to_resolve_seconds_sum{severity="sev2"} 3600');
      expect(body).toContain('runbook_incident_diagnostics_total{mode="automatic"} 1');
      expect(body).toContain('runbook_incident_diagnostics_total{mode="manual"} 0');
    });
  });

  describe('when queues are watched', () => {
    it('samples their job counts at scrape time', async () => {
      const metrics = createMetrics({ processMetrics: false });
      let waiting = 2;
      metrics.watchQueues([{ name: 'steps', getJobCounts: async () => ({ waiting, active: 1, delayed: 0, failed: 0 }) }]);
      expect((await metrics.render()).body).toContain('runbook_queue_jobs{queue="steps",state="waiting"} 2');
      waiting = 5;
      const { body } = await metrics.render();
      expect(body).toContain('runbook_queue_jobs{queue="steps",state="waiting"} 5');
      expect(body).toContain('runbook_queue_jobs{queue="steps",state="active"} 1');
    });
  });

  describe('when two registries exist in one process', () => {
    it('keeps their counts apart', async () => {
      const a = createMetrics({ processMetrics: false });
      const b = createMetrics({ processMetrics: false });
      a.runStarted(run);
      expect((await a.render()).body).toContain('runbook_runs_started_total{runbook="rollback-model",cost_center="ml-platform"} 1');
      expect((await b.render()).body).not.toContain('runbook_runs_started_total{');
    });
  });

  describe('when an observer composed with metrics throws', () => {
    it('still reaches the metrics', async () => {
      const metrics = createMetrics({ processMetrics: false });
      const observer = composeObservers({ runStarted: () => { throw new Error('broken'); } }, metrics);
      expect(() => observer.runStarted?.(run)).not.toThrow();
      expect((await metrics.render()).body).toContain('runbook_runs_started_total{runbook="rollback-model",cost_center="ml-platform"} 1');
    });
  });
});

describe('costOf', () => {
  describe('when the output does not state a count', () => {
    it('reports no cost rather than a guess', () => {
      expect(costOf('ssm', { status: 'Success' }, 1_000)).toEqual([]);
      expect(costOf('http', { status: 200 }, 1_000)).toEqual([]);
      expect(costOf('backfill', null, 1_000)).toEqual([]);
    });
  });
});

/**
 * Prometheus metrics of one process (`GET /metrics`), on a Registry of its own rather than
 * prom-client's global one, so several runtimes (tests, `runbook dev`) never collide. The object
 * is an {@link EngineObserver}: the engine and workers call its hooks; the web process times its
 * HTTP routes with {@link Metrics.observeHttp}; incidents report through the `incident*` hooks.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { costOf } from './cost.ts';
import type { EngineObserver, ObservedRun } from './observer.ts';

/** A queue whose job counts are sampled at each scrape (BullMQ's `Queue` fits). */
export interface WatchedQueue {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

export interface MetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event-loop lag). @default true */
  readonly processMetrics?: boolean;
  /** Labels on every series (`{ process: 'worker' }`). @default {} */
  readonly defaultLabels?: Readonly<Record<string, string>>;
}

/** Job states sampled as queue depth. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed'] as const;

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const LONG_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200, 14_400, 43_200, 86_400];

/** What {@link createMetrics} returns. */
export interface Metrics extends Required<Pick<EngineObserver, 'runStarted' | 'runFinished' | 'stepFinished' | 'jobStarted' | 'auditAppended' | 'approvalClosed' | 'slaEscalated' | 'costIncurred' | 'incidentDeclared' | 'incidentAcknowledged' | 'incidentResolved' | 'incidentDiagnosed'>> {
  readonly registry: Registry;
  /** Samples these queues' job counts at every scrape. */
  watchQueues(queues: readonly WatchedQueue[]): void;
  /** One HTTP request of the web process; `route` is the matched route's path, never the raw URL. */
  observeHttp(request: { readonly route: string; readonly method: string; readonly status: number; readonly durationMs: number }): void;
  /** The Prometheus text exposition. */
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

/** Creates the metrics of one process on a fresh Registry. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ ...options.defaultLabels });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'runbook_' });
  const on = { registers: [registry] };
  const runsStarted = new Counter({ name: 'runbook_runs_started_total', help: 'Runs started, by runbook and cost center', labelNames: ['runbook', 'cost_center'], ...on });
  const runsFinished = new Counter({ name: 'runbook_runs_finished_total', help: 'Runs that reached a final state, by runbook, state and cost center', labelNames: ['runbook', 'state', 'cost_center'], ...on });
  const runDuration = new Histogram({ name: 'runbook_run_duration_seconds', help: 'From run creation to its final state', labelNames: ['runbook', 'state'], buckets: LONG_SECONDS, ...on });
  const stepDuration = new Histogram({ name: 'runbook_step_duration_seconds', help: 'One executor call, by executor, phase and outcome', labelNames: ['executor', 'phase', 'outcome'], buckets: SECONDS, ...on });
  const jobWait = new Histogram({ name: 'runbook_job_wait_seconds', help: 'From a job being due (added, or its delay over) to a worker taking it', labelNames: ['queue'], buckets: SECONDS, ...on });
  const auditAppend = new Histogram({ name: 'runbook_audit_append_seconds', help: 'One audit append of a drained outbox entry', labelNames: ['outcome'], buckets: SECONDS, ...on });
  const approvalWait = new Histogram({ name: 'runbook_approval_wait_seconds', help: 'From an approval request to its gate closing, by approver group and outcome', labelNames: ['runbook', 'approver_group', 'outcome'], buckets: LONG_SECONDS, ...on });
  const escalations = new Counter({ name: 'runbook_sla_escalations_total', help: 'SLA rungs that fired, by kind', labelNames: ['kind'], ...on });
  const costUnits = new Counter({ name: 'runbook_cost_units_total', help: 'Resources executors reported using, by cost center, executor and unit', labelNames: ['cost_center', 'executor', 'unit'], ...on });
  const http = new Histogram({ name: 'runbook_http_request_duration_seconds', help: 'HTTP requests of the web process: /slack/events is the Slack ack latency, /pagerduty/webhook the webhook latency', labelNames: ['route', 'method', 'status'], buckets: SECONDS, ...on });
  const incidents = new Counter({ name: 'runbook_incidents_total', help: 'Incidents declared, by source and severity', labelNames: ['source', 'severity'], ...on });
  const diagnosed = new Counter({ name: 'runbook_incident_diagnostics_total', help: 'Incidents whose diagnostics ran, by whether a trigger started them (automatic) or a person (manual)', labelNames: ['mode'], ...on });
  const timeToAck = new Histogram({ name: 'runbook_incident_time_to_acknowledge_seconds', help: 'From incident declared to first acknowledgement', labelNames: ['severity'], buckets: LONG_SECONDS, ...on });
  const timeToResolve = new Histogram({ name: 'runbook_incident_time_to_resolve_seconds', help: 'From incident declared to resolved', labelNames: ['severity'], buckets: LONG_SECONDS, ...on });
  const watched: WatchedQueue[] = [];
  new Gauge({
    name: 'runbook_queue_jobs',
    help: 'Jobs in each queue by state, sampled at scrape',
    labelNames: ['queue', 'state'],
    ...on,
    async collect() {
      this.reset();
      const counts = await Promise.all(watched.map(async (queue) => [queue.name, await queue.getJobCounts(...QUEUE_STATES).catch(() => undefined)] as const));
      for (const [queue, byState] of counts) {
        if (!byState) continue;
        for (const state of QUEUE_STATES) this.set({ queue, state }, byState[state] ?? 0);
      }
    },
  });
  const costCenter = (run: Pick<ObservedRun, 'costCenter'>) => run.costCenter ?? 'none';
  // Seed the pair so a ratio of the two is defined (0) before the first incident.
  diagnosed.inc({ mode: 'automatic' }, 0);
  diagnosed.inc({ mode: 'manual' }, 0);

  return {
    registry,
    runStarted: (run) => {
      runsStarted.inc({ runbook: run.runbook, cost_center: costCenter(run) });
    },
    runFinished: (run) => {
      runsFinished.inc({ runbook: run.runbook, state: run.status, cost_center: costCenter(run) });
      runDuration.observe({ runbook: run.runbook, state: run.status }, run.durationMs / 1_000);
    },
    stepFinished: (step) => {
      stepDuration.observe({ executor: step.executor, phase: step.phase, outcome: step.outcome }, step.durationMs / 1_000);
      if (step.outcome !== 'succeeded') return;
      for (const cost of costOf(step.executor, step.output, step.durationMs)) costUnits.inc({ cost_center: costCenter(step), executor: step.executor, unit: cost.unit }, cost.amount);
    },
    jobStarted: (job) => jobWait.observe({ queue: job.queue }, Math.max(0, job.waitMs) / 1_000),
    auditAppended: (append) => auditAppend.observe({ outcome: append.ok ? 'ok' : 'error' }, append.durationMs / 1_000),
    approvalClosed: (approval) => approvalWait.observe({ runbook: approval.runbook, approver_group: approval.group, outcome: approval.outcome }, approval.waitMs / 1_000),
    slaEscalated: (escalation) => escalations.inc({ kind: escalation.kind }),
    costIncurred: (cost) => costUnits.inc({ cost_center: cost.costCenter ?? 'none', executor: cost.executor, unit: cost.unit }, cost.amount),
    watchQueues: (queues) => void watched.push(...queues),
    observeHttp: (request) => http.observe({ route: request.route, method: request.method, status: String(request.status) }, request.durationMs / 1_000),
    incidentDeclared: (incident) => incidents.inc({ source: incident.source, severity: incident.severity }),
    incidentAcknowledged: (incident) => timeToAck.observe({ severity: incident.severity }, incident.ms / 1_000),
    incidentResolved: (incident) => timeToResolve.observe({ severity: incident.severity }, incident.ms / 1_000),
    incidentDiagnosed: (diagnosis) => diagnosed.inc({ mode: diagnosis.automatic ? 'automatic' : 'manual' }),
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}

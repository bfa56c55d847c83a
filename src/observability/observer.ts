/**
 * The hooks the engine, the workers and the web process call so metrics and traces can watch
 * them without the engine importing prom-client or OpenTelemetry. Every hook is optional and
 * synchronous, and must never throw: observing a run may not change it.
 */

/** A run's identity as metrics and traces label it. */
export interface ObservedRun {
  readonly runId: string;
  readonly runbook: string;
  /** The runbook's `cost_center` front-matter field. */
  readonly costCenter?: string;
}

/** One executor call as the step worker saw it. */
export interface ObservedStep extends ObservedRun {
  readonly stepId: string;
  readonly executor: string;
  readonly phase: 'do' | 'undo';
  readonly attempt: number;
}

/** What the engine and its workers report. */
export interface EngineObserver {
  /**
   * Opens the run's span just before the run is stored; its W3C `traceparent` is stored on the run
   * so step spans in other processes join the same trace. Undefined when tracing is off.
   */
  startRunSpan?(run: ObservedRun): RunSpan | undefined;
  /** A run was created. */
  runStarted?(run: ObservedRun): void;
  /** A run reached a final state; `durationMs` from its creation. */
  runFinished?(run: ObservedRun & { readonly status: string; readonly durationMs: number }): void;
  /**
   * Wraps one executor call: `outcome` is `succeeded` or the failure's code class. The callback
   * runs inside the step's span (parented by the run's `traceparent`) when tracing is on.
   */
  step?<T>(step: ObservedStep & { readonly traceparent?: string }, call: () => Promise<T>): Promise<T>;
  /** An executor call ended. */
  stepFinished?(step: ObservedStep & { readonly outcome: 'succeeded' | 'failed'; readonly durationMs: number; readonly output?: unknown }): void;
  /** A worker took a job: how long it waited since it was added (or became due, for delayed jobs). */
  jobStarted?(job: { readonly queue: string; readonly waitMs: number }): void;
  /** One audit append (a drained outbox entry's records) took this long. */
  auditAppended?(append: { readonly records: number; readonly durationMs: number; readonly ok: boolean }): void;
  /** An approval gate closed after waiting `waitMs`; `group` is the approver group (or `user`). */
  approvalClosed?(approval: { readonly runbook: string; readonly group: string; readonly outcome: string; readonly waitMs: number }): void;
  /** An SLA rung fired: `kind` is `notify`, `page`, `expiry`, `ack`… */
  slaEscalated?(escalation: { readonly kind: string }): void;
  /** An executor reported cost: `amount` of `unit` (`instance_seconds`, `partitions`). */
  costIncurred?(cost: { readonly costCenter?: string; readonly executor: string; readonly unit: string; readonly amount: number }): void;
  /** An incident was declared (the incident KPIs). */
  incidentDeclared?(incident: { readonly source: string; readonly severity: string }): void;
  /** First acknowledgement, `ms` after the incident was declared. */
  incidentAcknowledged?(incident: { readonly severity: string; readonly ms: number }): void;
  /** Resolved, `ms` after the incident was declared. */
  incidentResolved?(incident: { readonly severity: string; readonly ms: number }): void;
  /** The first diagnostic run of an incident started: `automatic` when a PagerDuty trigger started it. */
  incidentDiagnosed?(diagnosis: { readonly automatic: boolean }): void;
}

/** The span of a run's start, open until {@link RunSpan.end}. */
export interface RunSpan {
  /** W3C trace context: `00-<trace id>-<span id>-<flags>`. */
  readonly traceparent: string;
  end(error?: unknown): void;
}

/**
 * One observer from several (metrics and tracing): each hook calls every observer that has it;
 * `startRunSpan` and `step` come from the first observer that has them.
 */
export function composeObservers(...observers: readonly (EngineObserver | undefined)[]): EngineObserver {
  const present = observers.filter((o): o is EngineObserver => o !== undefined);
  const each = <K extends keyof EngineObserver>(key: K) => (argument: unknown) => {
    for (const observer of present) {
      const hook = observer[key] as ((a: unknown) => unknown) | undefined;
      if (hook) safely(() => void hook.call(observer, argument));
    }
  };
  const spans = present.find((o) => o.startRunSpan);
  const steps = present.find((o) => o.step);
  return {
    runStarted: each('runStarted'),
    runFinished: each('runFinished'),
    stepFinished: each('stepFinished'),
    jobStarted: each('jobStarted'),
    auditAppended: each('auditAppended'),
    approvalClosed: each('approvalClosed'),
    slaEscalated: each('slaEscalated'),
    costIncurred: each('costIncurred'),
    incidentDeclared: each('incidentDeclared'),
    incidentAcknowledged: each('incidentAcknowledged'),
    incidentResolved: each('incidentResolved'),
    incidentDiagnosed: each('incidentDiagnosed'),
    ...(spans?.startRunSpan ? { startRunSpan: (run: ObservedRun) => spans.startRunSpan?.(run) } : {}),
    ...(steps?.step ? { step: <T>(step: ObservedStep & { readonly traceparent?: string }, call: () => Promise<T>) => (steps.step ? steps.step(step, call) : call()) } : {}),
  };
}

/** Calls a hook, swallowing whatever it throws: observing must never break the observed. */
export function safely(call: () => void): void {
  try {
    call();
  } catch {
    // A metrics or tracing failure is not the run's problem.
  }
}

/**
 * The workers: `steps` runs executor calls and reports the result as an event, `timers` turns a
 * due delayed job into `timer.fired`, `notify` hands outbound effects to a notifier. Stalled-job
 * settings are short so a killed worker's job is picked up in seconds, not BullMQ's default 30 s.
 */
import { costOf } from '../observability/cost.ts';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { toStepError, type ExecutorRegistry } from './executor-contract.ts';
import type { RunEvent } from '../machines/run-types.ts';
import type { AbortMessage } from './dispatcher.ts';
import type { Engine, EngineLogger } from './engine.ts';
import type { RunRecord } from './run-store.ts';
import type { EngineKeys } from './keys.ts';
import { QUEUE_NAMES, type NotifyJob, type StepJob, type TimerJob } from './queues.ts';
import type { EngineObserver } from '../observability/observer.ts';

export interface WorkerSettings {
  /** Executor calls run at once in this process. @default 8 */
  readonly concurrency: number;
  /** How long a job's lock lives without renewal: a dead worker's job is free after this. @default 5000 */
  readonly lockDurationMs: number;
  /** How often stalled jobs are looked for. Use the same value in every worker. @default 1000 */
  readonly stalledIntervalMs: number;
  /** Redeliveries of a stalled job before it fails. @default 5 */
  readonly maxStalledCount: number;
}

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = { concurrency: 8, lockDurationMs: 5_000, stalledIntervalMs: 1_000, maxStalledCount: 5 };

/** Largest step output kept (JSON characters); larger outputs are cut and marked. */
export const MAX_OUTPUT_CHARS = 64 * 1024;

/** Test-only fault injection: SIGKILL this process at a point of a step, once per run and step. */
export interface FaultInjection {
  readonly point: 'before-executor' | 'during-executor' | 'after-executor';
  readonly stepId: string;
  /** Resolves true the first time only (shared across processes). */
  readonly claim: (runId: string) => Promise<boolean>;
}

export interface StepWorkerOptions {
  readonly connection: Redis;
  readonly subscriber: Redis;
  readonly keys: EngineKeys;
  readonly engine: Engine;
  readonly executors: ExecutorRegistry;
  readonly settings?: Partial<WorkerSettings>;
  readonly logger: EngineLogger;
  readonly fault?: FaultInjection;
  /** Why an executor the runbooks may name is not in this worker (said in `executor_unavailable`). */
  readonly unavailable?: ReadonlyMap<string, string>;
  /** Metrics and tracing hooks. @default none */
  readonly observer?: EngineObserver;
}

export interface EngineWorker {
  readonly worker: Worker;
  close(force?: boolean): Promise<void>;
}

function workerOptions(connection: Redis, keys: EngineKeys, settings: WorkerSettings) {
  return {
    connection,
    prefix: keys.queuePrefix,
    concurrency: settings.concurrency,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
  };
}

export async function createStepWorker(options: StepWorkerOptions): Promise<EngineWorker> {
  const settings = { ...DEFAULT_WORKER_SETTINGS, ...options.settings };
  const inFlight = new Map<string, AbortController>();
  const keyOf = (m: AbortMessage) => `${m.runId}/${m.stepId}/${m.phase}/${m.attempt}`;
  await options.subscriber.subscribe(options.keys.abortChannel);
  options.subscriber.on('message', (channel: string, text: string) => {
    if (channel !== options.keys.abortChannel) return;
    try {
      inFlight.get(keyOf(JSON.parse(text) as AbortMessage))?.abort();
    } catch {
      options.logger.warn({ channel }, 'ignored a malformed abort message');
    }
  });

  const processor = async (job: Job<StepJob>, _token?: string, jobSignal?: AbortSignal) => {
    const data = job.data;
    options.observer?.jobStarted?.({ queue: QUEUE_NAMES.steps, waitMs: waitedMs(job) });
    // One read of the run: is this attempt still wanted, and which secrets must its reports hide.
    const run = await options.engine.getRun(data.runId);
    const stale = staleReason(run, data);
    if (stale || !run) return { skipped: stale ?? 'run_not_found' };
    const redact = redactorFor(options.engine, run);
    const executor = options.executors.get(data.executor);
    await injectFault(options.fault, data, 'before-executor');
    let event: RunEvent;
    if (!executor) {
      const why = options.unavailable?.get(data.executor) ?? 'it is not registered in this worker';
      event = failed(data, { code: 'executor_unavailable', message: `executor \`${data.executor}\` is not available: ${why}`, retryable: false });
    } else {
      const controller = new AbortController();
      const key = keyOf(data);
      inFlight.set(key, controller);
      jobSignal?.addEventListener('abort', () => controller.abort(), { once: true });
      const observed = { runId: data.runId, runbook: run.runbookId, stepId: data.stepId, executor: data.executor, phase: data.phase, attempt: data.attempt, ...costCenterOf(options.engine, run) };
      const startedMs = performance.now();
      let outcome: 'succeeded' | 'failed' = 'failed';
      let output: unknown;
      try {
        const call = () => executor.run(data.input, {
          signal: controller.signal,
          idempotencyKey: data.idempotencyKey,
          runId: data.runId,
          stepId: data.stepId,
          phase: data.phase,
          attempt: data.attempt,
          logger: { info: (f, m) => options.logger.info({ ...f, runId: data.runId, stepId: data.stepId }, m), warn: (f, m) => options.logger.warn({ ...f, runId: data.runId, stepId: data.stepId }, m) },
          redact,
          progress: (report) => {
            // Best effort: a lost progress report costs nothing, the next one replaces it.
            void options.engine.store
              .setProgress(data.runId, data.stepId, { ...JSON.parse(redact(JSON.stringify(report))) as object, at: Date.now() })
              .then(() => options.engine.notifyUpdate(data.runId))
              .catch((error: unknown) => options.logger.warn({ runId: data.runId, err: String(error) }, 'could not record progress'));
          },
        });
        const pending = options.observer?.step ? options.observer.step({ ...observed, ...(run.traceparent ? { traceparent: run.traceparent } : {}) }, call) : call();
        await injectFault(options.fault, data, 'during-executor');
        output = await pending;
        outcome = 'succeeded';
        await injectFault(options.fault, data, 'after-executor');
        const cost = costOf(data.executor, output, performance.now() - startedMs);
        event = { type: 'step.succeeded', stepId: data.stepId, attempt: data.attempt, phase: data.phase, output: redactJson(capOutput(output), redact), ...(cost.length > 0 ? { cost } : {}) };
      } catch (error) {
        const stepError = toStepError(error);
        event = failed(data, { ...stepError, message: redact(stepError.message) });
      } finally {
        inFlight.delete(key);
        options.observer?.stepFinished?.({ ...observed, outcome, durationMs: performance.now() - startedMs, output });
      }
    }
    const result = await options.engine.send(data.runId, event);
    return { applied: result.applied, ...(result.reason ? { reason: result.reason } : {}) };
  };

  const worker = new Worker<StepJob>(QUEUE_NAMES.steps, processor, workerOptions(options.connection, options.keys, settings));
  worker.on('error', (error) => options.logger.warn({ err: error.message }, 'step worker error'));
  // A job that exhausted its deliveries (its worker kept dying, or results could not be reported):
  // the step fails rather than wait forever.
  worker.on('failed', (job, error) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    const data = job.data;
    void options.engine
      .send(data.runId, failed(data, { code: 'step_delivery_failed', message: `the step could not be completed: ${error.message}`, retryable: true }))
      .catch((e: unknown) => options.logger.error({ runId: data.runId, err: String(e) }, 'could not report a failed step job'));
  });
  return closable(worker, async () => {
    await options.subscriber.unsubscribe(options.keys.abortChannel).catch(() => undefined);
  });
}

export async function createTimerWorker(options: { connection: Redis; keys: EngineKeys; engine: Engine; settings?: Partial<WorkerSettings>; logger: EngineLogger; observer?: EngineObserver }): Promise<EngineWorker> {
  const settings = { ...DEFAULT_WORKER_SETTINGS, ...options.settings };
  const worker = new Worker<TimerJob>(
    QUEUE_NAMES.timers,
    async (job) => {
      options.observer?.jobStarted?.({ queue: QUEUE_NAMES.timers, waitMs: waitedMs(job) });
      const result = await options.engine.send(job.data.runId, { type: 'timer.fired', timerId: job.data.timerId });
      return { applied: result.applied };
    },
    workerOptions(options.connection, options.keys, settings),
  );
  worker.on('error', (error) => options.logger.warn({ err: error.message }, 'timer worker error'));
  return closable(worker);
}

export type Notifier = (job: NotifyJob) => Promise<void>;

export async function createNotifyWorker(options: { connection: Redis; keys: EngineKeys; notifier: Notifier; settings?: Partial<WorkerSettings>; logger: EngineLogger; observer?: EngineObserver }): Promise<EngineWorker> {
  const settings = { ...DEFAULT_WORKER_SETTINGS, ...options.settings };
  const worker = new Worker<NotifyJob>(QUEUE_NAMES.notify, async (job) => {
    options.observer?.jobStarted?.({ queue: QUEUE_NAMES.notify, waitMs: waitedMs(job) });
    return options.notifier(job.data);
  }, workerOptions(options.connection, options.keys, settings));
  worker.on('error', (error) => options.logger.warn({ err: error.message }, 'notify worker error'));
  return closable(worker);
}

function closable(worker: Worker, after?: () => Promise<void>): EngineWorker {
  let closing: Promise<void> | undefined;
  return {
    worker,
    close: (force = false) => (closing ??= worker.close(force).then(() => after?.())),
  };
}

/** From when a job was due (added, or its delay over) to now: its wait in the queue. */
function waitedMs(job: Job): number {
  return Date.now() - (job.timestamp + (job.opts.delay ?? 0));
}

function costCenterOf(engine: Engine, run: RunRecord): { costCenter?: string } {
  const costCenter = engine.runbookOf(run).costCenter;
  return costCenter ? { costCenter } : {};
}

/** Hides the run's secret param values in whatever an executor reports. */
function redactorFor(engine: Engine, run: RunRecord): (text: string) => string {
  const secrets = engine.runbookOf(run).params.filter((p) => p.secret).map((p) => run.params[p.name]).filter((v): v is string => typeof v === 'string' && v.length > 0);
  return (text) => secrets.reduce((out, secret) => out.split(secret).join('[redacted]'), text);
}

/** A job for a step that is no longer waiting for this attempt (already reported, cancelled, finished). */
function staleReason(run: RunRecord | undefined, data: StepJob): string | undefined {
  if (!run) return 'run_not_found';
  if (run.status !== 'active') return 'run_finished';
  const state = run.snapshot.context.steps[data.stepId];
  const attempt = data.phase === 'do' ? state?.attempt : state?.undoAttempt;
  const expected = data.phase === 'do' ? 'running' : 'undoing';
  return state?.status === expected && attempt === data.attempt ? undefined : 'stale_attempt';
}

function failed(data: StepJob, error: { code: string; message: string; retryable: boolean }): RunEvent {
  return { type: 'step.failed', stepId: data.stepId, attempt: data.attempt, phase: data.phase, error };
}

function redactJson(value: unknown, redact: (text: string) => string): unknown {
  const text = JSON.stringify(value ?? null) ?? 'null';
  const redacted = redact(text);
  if (redacted === text) return value;
  try {
    return JSON.parse(redacted) as unknown;
  } catch {
    return { redacted: true, preview: redacted.slice(0, 2_000) };
  }
}

export function capOutput(output: unknown): unknown {
  const text = JSON.stringify(output ?? null) ?? 'null';
  if (text.length <= MAX_OUTPUT_CHARS) return JSON.parse(text) as unknown;
  return { truncated: true, size: text.length, preview: `${text.slice(0, MAX_OUTPUT_CHARS - 200)}…` };
}

async function injectFault(fault: FaultInjection | undefined, data: StepJob, point: FaultInjection['point']): Promise<void> {
  if (!fault || fault.point !== point || fault.stepId !== data.stepId || data.phase !== 'do') return;
  if (!(await fault.claim(data.runId))) return;
  if (point === 'during-executor') {
    // Let the executor get going, then die while it runs.
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 150);
    return;
  }
  process.kill(process.pid, 'SIGKILL');
}

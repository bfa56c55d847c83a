/**
 * The durable execution engine (DESIGN.md §2). Applying an event: load the run → pure
 * `transition()` → one atomic Redis write of the snapshot with its outbox (audit records +
 * effects), retried from the load on a version conflict → drain the outbox: audit first, then
 * dispatch. A crash anywhere loses nothing: the reconciler drains what a crash left behind.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AnyStateMachine } from 'xstate';
import type { AuditRecordInput, AuditStore } from '../audit/index.ts';
import { compileRunbook } from '../machines/compile.ts';
import type { ExecutorCatalog } from '../machines/executor-spec.ts';
import type { Runbook } from '../machines/ir.ts';
import { loadRunbook } from '../machines/load.ts';
import { resolveParams } from '../machines/params.ts';
import { applyEvent, finalStatusOf, startRun } from '../machines/run-machine.ts';
import { whyIgnored } from '../machines/run-logic.ts';
import type { Effect, Person, RunEvent, SlaDefaults } from '../machines/run-types.ts';
import { renderTemplate } from '../machines/template.ts';
import { assertRecordable, ignoredRecord, recordsFor, type RecordContext } from './audit-records.ts';
import type { Dispatcher } from './dispatcher.ts';
import { EngineError } from './errors.ts';
import { newRunId } from './ids.ts';
import type { EngineKeys } from './keys.ts';
import { RunStore, type OutboxEntry, type RunOrigin, type RunRecord, type RunStatus } from './run-store.ts';
import type { EngineObserver } from '../observability/observer.ts';
import { observeTransition } from '../observability/transitions.ts';

export interface EngineLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface EngineOptions {
  readonly redis: Redis;
  readonly keys: EngineKeys;
  readonly audit: AuditStore;
  readonly catalog: ExecutorCatalog;
  readonly dispatcher: Dispatcher;
  readonly logger: EngineLogger;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Attempts to commit against concurrent writers before giving up. @default 50 */
  readonly maxCommitAttempts?: number;
  /**
   * Called for each outbox entry after its audit records and effects are out, before it is popped
   * (so at least once, a crash repeats it): the incident service puts runs on incident timelines.
   * @default none
   */
  readonly onOutboxDrained?: (runId: string, entry: OutboxEntry) => Promise<void>;
  /** Metrics and tracing hooks (src/observability). @default none */
  readonly observer?: EngineObserver;
  /**
   * Decides each run start (policy as code, src/policy). A `deny` throws `policy_denied` and
   * starts nothing; every decision is a `policy.decision` audit record. @default every run allowed, unrecorded
   */
  readonly policy?: StartPolicy;
  /** SLA ladders for approvals and manual steps whose runbook sets none (issue 6). @default none */
  readonly slaDefaults?: SlaDefaults;
}

/** What a start policy says about a run; the engine only acts on `outcome` and records the rest. */
export interface StartDecision {
  readonly outcome: 'allow' | 'deny' | 'require_approval';
  /** The rule that decided, as `file:line name`. */
  readonly rule: string;
  readonly reason: string;
  /** Who can help: people who may run or approve it. */
  readonly helpers: readonly string[];
  /** Anything else for the audit record (approval requirement, freeze, limits). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Mutating steps an auto-started run may run without a person's confirmation (policy `auto_start.steps`). */
  readonly unattendedSteps?: readonly string[];
}

/** Decides a run start from the request, its compiled runbook, resolved params and the time. */
export type StartPolicy = (request: StartRunRequest, runbook: Runbook, params: Readonly<Record<string, unknown>>, at: number) => StartDecision;

export interface StartRunRequest {
  readonly file: string;
  readonly source: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly requester: Person;
  readonly incident?: Readonly<Record<string, unknown>> & { readonly id: string };
  readonly runId?: string;
  readonly origin?: RunOrigin;
  /** The requester declares an emergency: a change freeze then asks for more approvers instead of refusing. */
  readonly breakGlass?: boolean;
}

export interface SendResult {
  readonly applied: boolean;
  readonly run: RunRecord;
  /** Why an event changed nothing (`stale_attempt`, `self_approval`, `run_finished`, …). */
  readonly reason?: string;
}

/**
 * How long a run's drain lock outlives a drainer that died holding it; a live drainer renews it
 * before each further outbox entry. Short for the reason the workers' stall settings are: a
 * SIGKILLed process must not hold up the runs it was draining much longer than its step jobs.
 */
export const DRAIN_LOCK_MS = 5_000;

export class Engine {
  readonly store: RunStore;
  private readonly compiled = new Map<string, { runbook: Runbook; machine: AnyStateMachine }>();
  private readonly clock: () => number;

  constructor(private readonly options: EngineOptions) {
    this.store = new RunStore(options.redis, options.keys);
    this.clock = options.clock ?? Date.now;
  }

  /** Validates the runbook and params, claims the concurrency key, and starts the run. */
  async startRun(request: StartRunRequest): Promise<RunRecord> {
    const loaded = loadRunbook(request.file, request.source, this.options.catalog);
    if (!loaded.runbook) {
      const first = loaded.diagnostics.find((d) => d.severity === 'error');
      throw new EngineError('runbook_invalid', `${request.file} has errors; run \`runbook lint ${request.file}\`${first ? ` (first: line ${first.location.line}: ${first.message})` : ''}`);
    }
    const runbook = loaded.runbook;
    const params = resolveParams(runbook, request.params);
    if (!params.ok) {
      throw new EngineError('runbook_param_invalid', params.problems.map((p) => p.message).join('; '), { details: { problems: params.problems } });
    }
    const now = this.clock();
    const runId = request.runId ?? newRunId(now);
    const sourceHash = sha256(request.source);
    const decision = await this.decidePolicy(request, runbook, params.values, now, sourceHash);
    const machine = this.machineFor(sourceHash, request.source, request.file).machine;
    // A run PagerDuty started waits for a person before its first mutating step (issue 6).
    const auto = request.origin?.kind === 'pagerduty'
      ? { autoStarted: true, autoStartedBy: request.origin.incidentId, ...(decision?.unattendedSteps?.length ? { unattendedSteps: decision.unattendedSteps } : {}) }
      : {};
    const started = startRun(machine, { runId, runbookId: runbook.id, requester: request.requester, params: params.values, incident: request.incident ?? null, startedAt: now, ...auto, ...(this.options.slaDefaults ? { slaDefaults: this.options.slaDefaults } : {}) });
    const concurrencyKey = runbook.concurrency ? String(renderTemplate(runbook.concurrency, { params: params.values, incident: request.incident ?? null })) : undefined;
    const context = this.recordContext({ id: runId, runbookId: runbook.id, sourceHash, incidentId: request.incident?.id, params: params.values, source: request.source, runbookFile: request.file }, 1, now);
    const records = recordsFor(context, { type: 'run.started', actor: request.requester.id, data: { runbook: runbook.id, file: request.file, sourceHash, source: request.source, ...(runbook.costCenter ? { costCenter: runbook.costCenter } : {}), params: params.values, requester: request.requester, incident: request.incident ?? null } }, started.effects);
    if (decision) records.push(policyDecisionRecord(decision, request, runbook.id, sourceHash, now, runId));
    assertRecordable(records);
    const status = runStatusOf(started.snapshot);
    const observed = { runId, runbook: runbook.id, ...(runbook.costCenter ? { costCenter: runbook.costCenter } : {}) };
    const span = this.options.observer?.startRunSpan?.(observed);
    await this.store.create(
      { id: runId, runbookId: runbook.id, runbookFile: request.file, source: request.source, sourceHash, params: params.values, requester: request.requester, status, snapshot: started.snapshot, createdAt: now, ...(request.incident ? { incidentId: request.incident.id } : {}), ...(concurrencyKey ? { concurrencyKey } : {}), ...(request.origin ? { origin: request.origin } : {}), ...(span ? { traceparent: span.traceparent } : {}) },
      { version: 1, records, effects: withMessageUpdate({ origin: request.origin }, started.effects) },
    ).catch((error: unknown) => { span?.end(error); throw error; });
    this.options.observer?.runStarted?.(observed);
    this.options.logger.info({ runId, runbook: runbook.id, requester: request.requester.id }, 'run started');
    await this.drain(runId).finally(() => span?.end());
    const run = await this.store.get(runId);
    if (!run) throw new EngineError('run_not_found', `run ${runId} vanished right after it was created`, { retryable: true });
    return run;
  }

  /** Applies one event; an event that changes nothing is recorded as ignored, with why. */
  async send(runId: string, event: RunEvent): Promise<SendResult> {
    const stamped = { ...event, at: event.at ?? this.clock() } as RunEvent;
    const attempts = this.options.maxCommitAttempts ?? 50;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const run = await this.store.get(runId);
      if (!run) throw new EngineError('run_not_found', `no run ${runId}`);
      const { runbook, machine } = this.machineFor(run.sourceHash, run.source, run.runbookFile);
      const now = this.clock();
      if (run.status !== 'active') return this.ignore(run, stamped, 'run_finished', now);
      const stepped = applyEvent(machine, run.snapshot, stamped);
      if (!stepped.changed) return this.ignore(run, stamped, whyIgnored(runbook, run.snapshot.context, stamped), now);
      const version = run.version + 1;
      const records = recordsFor(this.recordContext(run, version, now), stamped, stepped.effects);
      assertRecordable(records);
      const status = runStatusOf(stepped.snapshot);
      const effects = withMessageUpdate(run, stepped.effects);
      if (await this.store.commit(run, stepped.snapshot, status, { version, records, effects }, now)) {
        observeTransition(this.options.observer, { run, runbook, event: stamped, effects: stepped.effects, status, now });
        if (status !== 'active') this.options.logger.info({ runId, status }, 'run finished');
        await this.drain(runId);
        return { applied: true, run: (await this.store.get(runId)) ?? run };
      }
      await delay(Math.min(50, attempt * 2) * Math.random());
    }
    throw new EngineError('run_busy', `run ${runId} kept changing under ${attempts} attempts to apply ${event.type}`, { retryable: true });
  }

  /** Appends the outbox's audit records, then dispatches its effects, oldest entry first. */
  async drain(runId: string): Promise<void> {
    const finished = await this.store.outbox.drain(runId, DRAIN_LOCK_MS, async (entry) => {
      await this.appendAudit(entry.records);
      await this.options.dispatcher.dispatch(runId, entry.version, entry.effects);
      await this.options.onOutboxDrained?.(runId, entry);
    });
    // Another drainer holds the run: it tells the live views when it is done.
    if (!finished) return;
    await this.options.redis.publish(this.options.keys.updatesChannel, runId).catch(() => 0);
  }

  /** Tells live views (CLI progress, run messages) that something about the run changed. */
  async notifyUpdate(runId: string): Promise<void> {
    await this.options.redis.publish(this.options.keys.updatesChannel, runId).catch(() => 0);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.store.get(runId);
  }

  /** The compiled runbook of a run: from its pinned source, never from the file as it is now. */
  runbookOf(run: RunRecord): Runbook {
    return this.machineFor(run.sourceHash, run.source, run.runbookFile).runbook;
  }

  /** Appends audit records, timing the append for `/metrics`. */
  private async appendAudit(records: OutboxEntry['records']): Promise<void> {
    const started = performance.now();
    let ok = false;
    try {
      await this.options.audit.append(records);
      ok = true;
    } finally {
      this.options.observer?.auditAppended?.({ records: records.length, durationMs: performance.now() - started, ok });
    }
  }

  /** Asks the start policy; a denial is audited (a record with no run) and thrown. */
  private async decidePolicy(request: StartRunRequest, runbook: Runbook, params: Readonly<Record<string, unknown>>, now: number, sourceHash: string): Promise<StartDecision | undefined> {
    const decision = this.options.policy?.(request, runbook, params, now);
    if (!decision || decision.outcome !== 'deny') return decision;
    await this.options.audit.append([policyDecisionRecord(decision, request, runbook.id, sourceHash, now)]);
    this.options.logger.info({ runbook: runbook.id, requester: request.requester.id, rule: decision.rule }, 'run denied by policy');
    const help = decision.helpers.length > 0 ? `; who can help: ${decision.helpers.join(', ')}` : '';
    throw new EngineError('policy_denied', `policy denied \`${runbook.id}\`: ${decision.reason} (rule ${decision.rule})${help}`, { details: { rule: decision.rule, helpers: decision.helpers } });
  }

  private async ignore(run: RunRecord, event: RunEvent, reason: string, now: number): Promise<SendResult> {
    const fingerprint = sha256(JSON.stringify(event)).slice(0, 16);
    await this.options.audit.append([ignoredRecord(this.recordContext(run, run.version, now), event, reason, fingerprint)]);
    return { applied: false, run, reason };
  }

  private machineFor(sourceHash: string, source: string, file: string) {
    let entry = this.compiled.get(sourceHash);
    if (!entry) {
      const loaded = loadRunbook(file, source, this.options.catalog);
      if (!loaded.runbook) throw new EngineError('runbook_invalid', `the pinned source of ${file} no longer compiles`);
      entry = { runbook: loaded.runbook, machine: compileRunbook(loaded.runbook) };
      if (this.compiled.size > 200) this.compiled.clear();
      this.compiled.set(sourceHash, entry);
    }
    return entry;
  }

  private recordContext(run: Pick<RunRecord, 'id' | 'runbookId' | 'sourceHash' | 'incidentId' | 'params' | 'source' | 'runbookFile'>, version: number, at: number): RecordContext {
    const runbook = this.machineFor(run.sourceHash, run.source, run.runbookFile).runbook;
    const secrets = runbook.params.filter((p) => p.secret).map((p) => run.params[p.name]).filter((v): v is string => typeof v === 'string' && v.length > 0);
    return { runId: run.id, version, at, runbookId: run.runbookId, runbookHash: run.sourceHash, ...(run.incidentId ? { incidentId: run.incidentId } : {}), secrets };
  }
}

/** Effects that reach the notify queue anyway re-render the run message; otherwise ask for it once. */
const NOTIFIED: ReadonlySet<Effect['kind']> = new Set(['approval.request', 'approval.recorded', 'approval.closed', 'manual.request', 'manual.closed', 'step.skipped', 'run.finished', 'escalation.fire']);

function withMessageUpdate(run: Pick<RunRecord, 'origin'>, effects: readonly Effect[]): readonly Effect[] {
  if (run.origin?.kind !== 'slack' || effects.some((e) => NOTIFIED.has(e.kind))) return effects;
  return [...effects, { kind: 'run.updated' }];
}

/** The `policy.decision` audit record; a denied start has no run, so its id is its own. */
function policyDecisionRecord(decision: StartDecision, request: StartRunRequest, runbookId: string, sourceHash: string, at: number, runId?: string): AuditRecordInput {
  return {
    id: runId ? `${runId}.policy` : `policy.${randomUUID()}`,
    at,
    ...(runId ? { runId } : {}),
    ...(request.incident ? { incidentId: request.incident.id } : {}),
    actor: request.requester.id,
    type: 'policy.decision',
    data: { outcome: decision.outcome, rule: decision.rule, reason: decision.reason, helpers: decision.helpers, requester: request.requester, breakGlass: request.breakGlass ?? false, file: request.file, ...(decision.details ?? {}) },
    runbookId,
    runbookHash: sourceHash,
  };
}

export function runStatusOf(snapshot: RunRecord['snapshot']): RunStatus {
  return finalStatusOf(snapshot) ?? 'active';
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}



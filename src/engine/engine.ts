/**
 * The durable execution engine (DESIGN.md §2). Applying an event: load the run → pure
 * `transition()` → one atomic Redis write of the snapshot with its outbox (audit records +
 * effects), retried from the load on a version conflict → drain the outbox: audit first, then
 * dispatch. A crash anywhere loses nothing: the reconciler drains what a crash left behind.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AnyStateMachine } from 'xstate';
import type { AuditStore } from '../audit/index.ts';
import { compileRunbook } from '../machines/compile.ts';
import type { ExecutorCatalog } from '../machines/executor-spec.ts';
import type { Runbook } from '../machines/ir.ts';
import { loadRunbook } from '../machines/load.ts';
import { resolveParams } from '../machines/params.ts';
import { applyEvent, finalStatusOf, startRun } from '../machines/run-machine.ts';
import { whyIgnored } from '../machines/run-logic.ts';
import type { Effect, Person, RunEvent } from '../machines/run-types.ts';
import { renderTemplate } from '../machines/template.ts';
import { ignoredRecord, recordsFor, type RecordContext } from './audit-records.ts';
import type { Dispatcher } from './dispatcher.ts';
import { EngineError } from './errors.ts';
import { newRunId } from './ids.ts';
import type { EngineKeys } from './keys.ts';
import { RunStore, type RunOrigin, type RunRecord, type RunStatus } from './run-store.ts';

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
}

export interface StartRunRequest {
  readonly file: string;
  readonly source: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly requester: Person;
  readonly incident?: Readonly<Record<string, unknown>> & { readonly id: string };
  readonly runId?: string;
  readonly origin?: RunOrigin;
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
    const machine = this.machineFor(sourceHash, request.source, request.file).machine;
    const started = startRun(machine, { runId, runbookId: runbook.id, requester: request.requester, params: params.values, incident: request.incident ?? null, startedAt: now });
    const concurrencyKey = runbook.concurrency ? String(renderTemplate(runbook.concurrency, { params: params.values, incident: request.incident ?? null })) : undefined;
    const context = this.recordContext({ id: runId, runbookId: runbook.id, sourceHash, incidentId: request.incident?.id, params: params.values, source: request.source, runbookFile: request.file }, 1, now);
    const records = recordsFor(context, { type: 'run.started', actor: request.requester.id, data: { runbook: runbook.id, file: request.file, sourceHash, source: request.source, params: params.values, requester: request.requester, incident: request.incident ?? null } }, started.effects);
    const status = runStatusOf(started.snapshot);
    await this.store.create(
      { id: runId, runbookId: runbook.id, runbookFile: request.file, source: request.source, sourceHash, params: params.values, requester: request.requester, status, snapshot: started.snapshot, createdAt: now, ...(request.incident ? { incidentId: request.incident.id } : {}), ...(concurrencyKey ? { concurrencyKey } : {}), ...(request.origin ? { origin: request.origin } : {}) },
      { version: 1, records, effects: withMessageUpdate({ origin: request.origin }, started.effects) },
    );
    this.options.logger.info({ runId, runbook: runbook.id, requester: request.requester.id }, 'run started');
    await this.drain(runId);
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
      const status = runStatusOf(stepped.snapshot);
      const effects = withMessageUpdate(run, stepped.effects);
      if (await this.store.commit(run, stepped.snapshot, status, { version, records, effects }, now)) {
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
    for (let pass = 0; pass < 3; pass += 1) {
      const token = randomUUID();
      if (!(await this.store.lockDrain(runId, token, DRAIN_LOCK_MS))) return;
      try {
        for (let drained = 0; ; drained += 1) {
          const next = await this.store.peekOutbox(runId);
          if (!next) break;
          if (drained > 0 && !(await this.store.extendDrain(runId, token, DRAIN_LOCK_MS))) break;
          await this.options.audit.append(next.entry.records);
          await this.options.dispatcher.dispatch(runId, next.entry.version, next.entry.effects);
          await this.store.popOutbox(runId, next.raw);
        }
      } finally {
        await this.store.unlockDrain(runId, token);
      }
      // Another process may have committed while this one released the lock.
      if (!(await this.store.peekOutbox(runId))) break;
    }
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
const NOTIFIED: ReadonlySet<Effect['kind']> = new Set(['approval.request', 'approval.recorded', 'approval.closed', 'manual.request', 'manual.closed', 'step.skipped', 'run.finished']);

function withMessageUpdate(run: Pick<RunRecord, 'origin'>, effects: readonly Effect[]): readonly Effect[] {
  if (run.origin?.kind !== 'slack' || effects.some((e) => NOTIFIED.has(e.kind))) return effects;
  return [...effects, { kind: 'run.updated' }];
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



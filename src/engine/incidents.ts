/**
 * The incident service (issue 6), durable the way runs are (DESIGN.md §2): load the incident →
 * pure `applyIncidentEvent()` → one atomic Redis write of the snapshot with its outbox (audit
 * records + effects), retried from the load on a version conflict → drain: audit first, then
 * dispatch to the incident queues, then pop. The reconciler drains what a crash left behind.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AuditStore } from '../audit/index.ts';
import type { EscalationRung } from '../machines/ir.ts';
import { applyIncidentEvent, startIncident } from '../machines/incident-machine.ts';
import { SEVERITIES, type IncidentContext, type IncidentEvent } from '../machines/incident-types.ts';
import type { EngineObserver } from '../observability/observer.ts';
import type { Effect, Person } from '../machines/run-types.ts';
import type { EngineLogger } from './engine.ts';
import { EngineError, isEngineError } from './errors.ts';
import { assertRecordable } from './audit-records.ts';
import { incidentIgnoredRecord, incidentRecords } from './incident-audit.ts';
import type { DeclareIncidentRequest, IncidentRecord, IncidentSendResult, Incidents } from './incident-port.ts';
import type { IncidentDispatcher } from './incident-queues.ts';
import { IncidentStore } from './incident-store.ts';
import type { EngineKeys } from './keys.ts';

export interface IncidentServiceOptions {
  readonly redis: Redis;
  readonly keys: EngineKeys;
  readonly audit: AuditStore;
  readonly dispatcher: IncidentDispatcher;
  readonly logger: EngineLogger;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Acknowledgement SLA ladder for incidents declared without one. @default [] (no escalation) */
  readonly ackEscalation?: readonly EscalationRung[];
  /** Attempts to commit against concurrent writers before giving up. @default 50 */
  readonly maxCommitAttempts?: number;
  /** Incident KPIs for `/metrics`. */
  readonly observer?: Pick<EngineObserver, 'incidentDeclared' | 'incidentAcknowledged' | 'incidentResolved' | 'incidentDiagnosed' | 'slaEscalated'>;
}

/** How long an incident's drain lock outlives a drainer that died holding it (as for runs). */
export const INCIDENT_DRAIN_LOCK_MS = 5_000;

/** Longest title accepted: it names a Slack channel and heads a postmortem. */
export const MAX_INCIDENT_TITLE = 300;

/** What a run's committed transition tells the incident it belongs to (see {@link IncidentService.recordRunTransition}). */
export interface RunTransitionEntry {
  readonly records: readonly { readonly type: string; readonly at: number; readonly incidentId?: string; readonly runbookId?: string; readonly actor: string; readonly data: unknown }[];
  readonly effects: readonly Effect[];
}

export class IncidentService implements Incidents {
  readonly store: IncidentStore;
  private readonly clock: () => number;

  constructor(private readonly options: IncidentServiceOptions) {
    this.store = new IncidentStore(options.redis, options.keys);
    this.clock = options.clock ?? Date.now;
  }

  async declare(request: DeclareIncidentRequest): Promise<{ readonly incident: IncidentRecord; readonly created: boolean }> {
    const title = checkDeclaration(request);
    if (request.pagerDuty) {
      const existing = await this.findByPagerDutyId(request.pagerDuty.incidentId);
      if (existing) return { incident: existing, created: false };
    }
    const now = this.clock();
    const id = await this.store.nextId();
    const started = startIncident({
      id, title, severity: request.severity ?? 'sev3', source: request.source, declaredBy: request.declaredBy, createdAt: now,
      ...(request.pagerDuty ? { pagerDuty: request.pagerDuty } : {}),
      responders: request.responders ?? [],
      ackEscalation: request.ackEscalation ?? this.options.ackEscalation ?? [],
    });
    const records = incidentRecords(id, 1, now, { type: 'incident.declared', context: started.snapshot.context }, started.effects);
    assertRecordable(records);
    const outcome = await this.store.create(started.snapshot, now, { version: 1, records, effects: started.effects });
    if (!outcome.created) {
      // Another declare for the same PagerDuty incident won the race: its incident is the one.
      const first = await this.get(outcome.existingId);
      if (first) return { incident: first, created: false };
      throw new EngineError('incident_not_found', `PagerDuty incident ${request.pagerDuty?.incidentId} is indexed to ${outcome.existingId}, which does not exist`);
    }
    this.options.observer?.incidentDeclared?.({ source: request.source, severity: started.snapshot.context.severity });
    this.options.logger.info({ incidentId: id, severity: started.snapshot.context.severity, source: request.source }, 'incident declared');
    await this.drain(id);
    return { incident: await this.require(id), created: true };
  }

  /** Applies one event; an event that changes nothing is recorded as ignored, with why. */
  async send(incidentId: string, event: IncidentEvent): Promise<IncidentSendResult> {
    const stamped = { ...event, at: event.at ?? this.clock() } as IncidentEvent;
    const attempts = this.options.maxCommitAttempts ?? 50;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const loaded = await this.store.load(incidentId);
      if (!loaded) throw new EngineError('incident_not_found', `no incident ${incidentId}; \`runbook incident list\` shows recent incidents`);
      const now = this.clock();
      const stepped = applyIncidentEvent(loaded.snapshot, stamped);
      if (!stepped.changed) {
        const reason = stepped.reason ?? 'not_applicable';
        const fingerprint = createHash('sha256').update(JSON.stringify(stamped)).digest('hex').slice(0, 16);
        await this.options.audit.append([incidentIgnoredRecord(incidentId, now, stamped, reason, fingerprint)]);
        return { applied: false, incident: loaded.record, reason };
      }
      const version = loaded.record.version + 1;
      const records = incidentRecords(incidentId, version, stamped.at ?? now, stamped, stepped.effects);
      assertRecordable(records);
      const indexes = {
        ...(stamped.type === 'incident.channel_created' ? { channelId: stamped.channel.channelId } : {}),
        ...(stamped.type === 'incident.pagerduty_linked' ? { pagerDutyIncidentId: stamped.pagerDuty.incidentId } : {}),
      };
      if (await this.store.commit(incidentId, loaded.record.version, stepped.snapshot, { version, records, effects: stepped.effects }, now, indexes)) {
        this.observe(loaded.record.context, stepped.snapshot.context, stamped);
        await this.drain(incidentId);
        return { applied: true, incident: await this.require(incidentId) };
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, attempt * 2) * Math.random()));
    }
    throw new EngineError('incident_busy', `incident ${incidentId} kept changing under ${attempts} attempts to apply ${event.type}`, { retryable: true });
  }

  /** Reports the incident KPIs (time to acknowledge and resolve, automatic diagnostics, ack escalations). */
  private observe(before: IncidentContext, after: IncidentContext, event: IncidentEvent): void {
    const observer = this.options.observer;
    if (!observer) return;
    if (!before.acknowledged && after.acknowledged) observer.incidentAcknowledged?.({ severity: after.severity, ms: Math.max(0, after.acknowledged.at - after.createdAt) });
    if (!before.resolved && after.resolved) observer.incidentResolved?.({ severity: after.severity, ms: Math.max(0, after.resolved.at - after.createdAt) });
    if (event.type === 'incident.run_started' && before.runs.length === 0) observer.incidentDiagnosed?.({ automatic: event.auto });
    if (after.escalated.length > before.escalated.length) observer.slaEscalated?.({ kind: 'ack' });
  }

  get(incidentId: string): Promise<IncidentRecord | undefined> {
    return this.store.get(incidentId);
  }

  async findByPagerDutyId(pagerDutyIncidentId: string): Promise<IncidentRecord | undefined> {
    const id = await this.store.findIdByPagerDutyId(pagerDutyIncidentId);
    return id ? this.store.get(id) : undefined;
  }

  async findByChannel(channelId: string): Promise<IncidentRecord | undefined> {
    const id = await this.store.findIdByChannel(channelId);
    return id ? this.store.get(id) : undefined;
  }

  list(limit = 50): Promise<IncidentRecord[]> {
    return this.store.list(limit);
  }

  /** Appends the outbox's audit records, then dispatches its effects, oldest entry first. */
  async drain(incidentId: string): Promise<void> {
    await this.store.outbox.drain(incidentId, INCIDENT_DRAIN_LOCK_MS, async (entry) => {
      await this.options.audit.append(entry.records);
      await this.options.dispatcher.dispatch(incidentId, entry.version, entry.effects);
    });
  }


  /**
   * Puts a run's start and end on its incident's timeline. Called while the run's outbox entry is
   * drained (before it is popped), so a crash repeats it rather than losing it; repeats are
   * ignored by the machine (`run_already_linked`, `run_already_finished`).
   */
  async recordRunTransition(runId: string, entry: RunTransitionEntry): Promise<void> {
    const incidentId = entry.records.find((r) => r.incidentId)?.incidentId;
    if (!incidentId) return;
    const started = entry.records.find((r) => r.type === 'run.started');
    const finished = entry.effects.find((e): e is Extract<Effect, { kind: 'run.finished' }> => e.kind === 'run.finished');
    const runbookId = entry.records.find((r) => r.runbookId)?.runbookId ?? 'unknown';
    const at = entry.records[0]?.at;
    try {
      if (started) {
        const by = requesterOf(started.data) ?? { id: started.actor };
        await this.send(incidentId, { type: 'incident.run_started', runId, runbookId, by, auto: by.id === 'pagerduty', ...(at !== undefined ? { at } : {}) });
      }
      if (finished) await this.send(incidentId, { type: 'incident.run_finished', runId, runbookId, status: finished.status, ...(at !== undefined ? { at } : {}) });
    } catch (error) {
      // A run may name an incident this deployment does not hold: that must not block the run's outbox.
      if (!isEngineError(error, 'incident_not_found')) throw error;
      this.options.logger.warn({ runId, incidentId }, 'run names an incident that does not exist; not linked');
    }
  }

  private async require(incidentId: string): Promise<IncidentRecord> {
    const record = await this.store.get(incidentId);
    if (!record) throw new EngineError('incident_not_found', `incident ${incidentId} vanished right after it was written`, { retryable: true });
    return record;
  }
}

function checkDeclaration(request: DeclareIncidentRequest): string {
  const title = request.title.trim().replace(/\s+/g, ' ');
  const problems: string[] = [];
  if (title.length === 0) problems.push('title is empty; expected a short description such as "model-x p99 latency above 2s"');
  if (title.length > MAX_INCIDENT_TITLE) problems.push(`title is ${title.length} characters; expected at most ${MAX_INCIDENT_TITLE}`);
  if (request.severity !== undefined && !(SEVERITIES as readonly string[]).includes(request.severity)) {
    problems.push(`severity must be one of ${SEVERITIES.join(', ')}; got ${JSON.stringify(String(request.severity).slice(0, 20))}`);
  }
  for (const [i, rung] of (request.ackEscalation ?? []).entries()) {
    if (!Number.isSafeInteger(rung.afterMs) || rung.afterMs < 0) problems.push(`ackEscalation[${i}].afterMs must be a whole number of milliseconds ≥ 0; got ${String(rung.afterMs)}`);
  }
  if (problems.length > 0) throw new EngineError('incident_invalid', `cannot declare the incident: ${problems.join('; ')}`, { details: { problems } });
  return title;
}

function requesterOf(data: unknown): Person | undefined {
  const requester = data && typeof data === 'object' && 'requester' in data ? (data as { requester?: unknown }).requester : undefined;
  return requester && typeof requester === 'object' && typeof (requester as Person).id === 'string' ? (requester as Person) : undefined;
}

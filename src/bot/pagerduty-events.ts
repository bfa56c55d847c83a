/**
 * The `pagerduty-events` worker: turns accepted PagerDuty deliveries into incident moves and
 * auto-started runs (issue 6). PagerDuty is the source of truth for its incidents: an event about
 * an incident we do not know declares it first.
 *
 * - `incident.triggered` → declare (idempotent by PagerDuty id), then start every runbook whose
 *   `triggers.pagerduty` rules match, once per incident and runbook: the run id is derived from
 *   both (a ULID whose time is the incident's creation and whose rest is a hash), so a duplicate
 *   delivery or a redelivered job finds the run already there and starts nothing new.
 * - `incident.acknowledged` / `incident.resolved` → the move, with `source: 'pagerduty'` so the
 *   incident machine does not echo it back to PagerDuty.
 * - `incident.reassigned` → reassigned; `incident.annotated` → a note; anything else is logged.
 *
 * BullMQ delivers at least once; every step above is idempotent, so a retried job is harmless.
 */
import { withTraceparent } from '../observability/trace-context.ts';
import { incidentTemplateContext } from './incident-context.ts';
import { createHash } from 'node:crypto';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Incidents, IncidentRecord } from '../engine/incident-port.ts';
import { isEngineError } from '../engine/errors.ts';
import { parsePagerDutyEvent, type PagerDutyWebhookEvent, type PagerDutyWebhookIncident } from '../integrations/pagerduty-webhook-event.ts';
import type { PagerDutyRef, Severity } from '../machines/incident-types.ts';
import { findTriggeredRunbooks } from '../machines/pagerduty-triggers.ts';
import type { Person } from '../machines/run-types.ts';
import type { CatalogEntry } from './catalog.ts';
import { PAGERDUTY_EVENTS_QUEUE, type PagerDutyEventJob } from './pagerduty-queue.ts';
import type { BotEngine, BotLogger } from './ports.ts';

/** Who auto-started runs are requested by. */
export const PAGERDUTY_REQUESTER: Person = { id: 'pagerduty', name: 'PagerDuty' };

/** Options of {@link createPagerDutyEventHandler}. */
export interface PagerDutyEventHandlerOptions {
  readonly incidents: Incidents;
  readonly engine: Pick<BotEngine, 'startRun'>;
  /** The startable runbooks (a `RunbookCatalog` fits). */
  readonly catalog: { entries(): readonly CatalogEntry[]; refreshIfStale?(): void };
  readonly logger: BotLogger;
}

/** What one job did, for the job's return value and tests. */
export interface PagerDutyEventOutcome {
  readonly action: 'declared' | 'moved' | 'noted' | 'ignored' | 'unchanged';
  readonly incidentId?: string;
  /** Runs auto-started by this job (not those a previous delivery already started). */
  readonly started?: readonly string[];
}

/** Handles one `pagerduty-events` job. Throws (for BullMQ to retry) only on failures worth retrying. */
export function createPagerDutyEventHandler(options: PagerDutyEventHandlerOptions): (job: PagerDutyEventJob) => Promise<PagerDutyEventOutcome> {
  const { incidents, logger } = options;
  return async (job) => {
    const parsed = parsePagerDutyEvent({ event: job.event });
    if (!parsed.ok) {
      logger.warn({ eventId: job.event.id, problems: parsed.problems }, 'dropped a PagerDuty event of an unexpected shape');
      return { action: 'ignored' };
    }
    const { event } = parsed;
    const by: Person = { id: 'pagerduty', name: event.agent?.summary ?? 'PagerDuty' };
    if (parsed.note) {
      const ref = parsed.note.incident;
      const incident = await ensureIncident(incidents, { pagerDuty: { incidentId: ref.id, ...(ref.html_url ? { htmlUrl: ref.html_url } : {}) }, title: ref.summary ?? `PagerDuty incident ${ref.id}`, severity: 'sev3', by });
      // Our own notes (findings, synced notes) come back as `incident.annotated`: already on the timeline.
      const text = parsed.note.content.trim();
      if (incident.context.timeline.some((entry) => entry.type === 'note.added' && entry.text === text)) return { action: 'unchanged', incidentId: incident.id };
      const result = await incidents.send(incident.id, { type: 'incident.note', by, text: parsed.note.content });
      return { action: result.applied ? 'noted' : 'unchanged', incidentId: incident.id };
    }
    const data = parsed.incident;
    if (!data) {
      logger.info({ eventId: event.id, eventType: event.event_type }, 'ignored a PagerDuty event of a type the bot does not act on');
      return { action: 'ignored' };
    }
    const incident = await ensureIncident(incidents, { pagerDuty: pagerDutyRefOf(data), title: data.title, severity: severityOf(data), by });
    switch (event.event_type) {
      case 'incident.triggered':
        return { action: 'declared', incidentId: incident.id, started: await autoStart(options, incident, data) };
      case 'incident.acknowledged':
      case 'incident.resolved': {
        const type = event.event_type === 'incident.acknowledged' ? 'incident.acknowledge' : 'incident.resolve';
        const result = await incidents.send(incident.id, { type, by, source: 'pagerduty', ...atOf(event) });
        return { action: result.applied ? 'moved' : 'unchanged', incidentId: incident.id };
      }
      case 'incident.reassigned': {
        const result = await incidents.send(incident.id, { type: 'incident.reassigned', by, to: (data.assignees ?? []).map((a) => a.summary ?? a.id), ...atOf(event) });
        return { action: result.applied ? 'moved' : 'unchanged', incidentId: incident.id };
      }
      default:
        return { action: 'ignored', incidentId: incident.id };
    }
  };
}

/** Starts the matching runbooks for the incident; returns the ids of runs this call created. */
async function autoStart(options: PagerDutyEventHandlerOptions, incident: IncidentRecord, data: PagerDutyWebhookIncident): Promise<string[]> {
  options.catalog.refreshIfStale?.();
  const entries = options.catalog.entries();
  const matches = findTriggeredRunbooks(entries.map((e) => e.runbook), { title: data.title, serviceId: data.service.id, ...(data.service.summary ? { serviceName: data.service.summary } : {}), ...(data.urgency ? { urgency: data.urgency } : {}) });
  const started: string[] = [];
  for (const match of matches) {
    const entry = entries.find((e) => e.runbook === match.runbook);
    if (!entry) continue;
    const runId = autoRunId(incident.id, match.runbook.id, incident.createdAt);
    try {
      await options.engine.startRun({
        file: entry.file,
        source: entry.source,
        params: match.params,
        requester: PAGERDUTY_REQUESTER,
        incident: incidentTemplateContext(incident),
        runId,
        origin: { kind: 'pagerduty', incidentId: incident.id },
      });
      started.push(runId);
      options.logger.info({ incidentId: incident.id, runbook: match.runbook.id, runId }, 'auto-started a runbook for a PagerDuty incident');
    } catch (error) {
      if (!isAlreadyStarted(error, runId)) {
        if (isEngineError(error) && !error.retryable) {
          options.logger.warn({ incidentId: incident.id, runbook: match.runbook.id, code: error.code, err: error.message }, 'could not auto-start a runbook');
          await options.incidents.send(incident.id, { type: 'incident.note', by: PAGERDUTY_REQUESTER, text: `Runbook ${match.runbook.id} matched but was not started: ${error.message}` });
          continue;
        }
        throw error;
      }
    }
    // No `incident.run_started` here: the engine's drain hook puts every run of an incident on
    // its timeline (auto when the requester is PagerDuty), also after a crash.
  }
  return started;
}

function isAlreadyStarted(error: unknown, runId: string): boolean {
  if (isEngineError(error, 'run_exists')) return true;
  return isEngineError(error, 'run_concurrency_conflict') && error.details?.['activeRunId'] === runId;
}

async function ensureIncident(incidents: Incidents, input: { pagerDuty: PagerDutyRef; title: string; severity: Severity; by: Person }): Promise<IncidentRecord> {
  const known = await incidents.findByPagerDutyId(input.pagerDuty.incidentId);
  if (known) return known;
  // The incident service takes titles up to 300 characters; PagerDuty's may be longer.
  const title = input.title.trim().length > 300 ? `${input.title.trim().slice(0, 299)}…` : input.title;
  const { incident } = await incidents.declare({ title, severity: input.severity, source: 'pagerduty', declaredBy: input.by, pagerDuty: input.pagerDuty });
  return incident;
}

/** The incident's PagerDuty reference, from an event's incident object. */
export function pagerDutyRefOf(data: PagerDutyWebhookIncident): PagerDutyRef {
  return {
    incidentId: data.id,
    ...(data.number !== undefined ? { number: data.number } : {}),
    ...(data.html_url ? { htmlUrl: data.html_url } : {}),
    serviceId: data.service.id,
    ...(data.service.summary ? { serviceName: data.service.summary } : {}),
    ...(data.urgency ? { urgency: data.urgency } : {}),
    ...(data.escalation_policy?.id ? { escalationPolicyId: data.escalation_policy.id } : {}),
    ...(data.incident_key ? { incidentKey: data.incident_key } : {}),
  };
}

/** Severity from PagerDuty's priority (`P1`→sev1, `P2`→sev2, others sev3), else urgency (high→sev2). */
export function severityOf(data: Pick<PagerDutyWebhookIncident, 'priority' | 'urgency'>): Severity {
  const priority = /^P(\d+)$/i.exec(data.priority?.summary?.trim() ?? '')?.[1];
  if (priority === '1') return 'sev1';
  if (priority === '2') return 'sev2';
  if (priority !== undefined) return 'sev3';
  return data.urgency === 'high' ? 'sev2' : 'sev3';
}

/**
 * The run id for (incident, runbook): a ULID (what `/runbook` commands accept) whose time part is
 * the incident's creation and whose random part is a hash of both ids.
 */
export function autoRunId(incidentId: string, runbookId: string, createdAtMs: number): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  for (let t = Math.max(0, Math.floor(createdAtMs)), i = 0; i < 10; i += 1, t = Math.floor(t / 32)) time = (alphabet[t % 32] ?? '0') + time;
  const digest = createHash('sha256').update(`${incidentId}\n${runbookId}`).digest();
  return time + [...digest.subarray(0, 16)].map((b) => alphabet[b % 32] ?? '0').join('');
}

function atOf(event: PagerDutyWebhookEvent): { at?: number } {
  const at = event.occurred_at ? Date.parse(event.occurred_at) : Number.NaN;
  return Number.isFinite(at) ? { at } : {};
}

/** Options of {@link createPagerDutyEventsWorker}; durations in milliseconds. */
export interface PagerDutyEventsWorkerOptions {
  /** A worker connection (`maxRetriesPerRequest: null`). */
  readonly connection: Redis;
  /** The engine's BullMQ prefix (`keys.queuePrefix`). */
  readonly queuePrefix: string;
  readonly handle: (job: PagerDutyEventJob) => Promise<PagerDutyEventOutcome>;
  readonly logger: BotLogger;
  /** @default 4 */
  readonly concurrency?: number;
  /** @default 5000 */
  readonly lockDurationMs?: number;
  /** Use the same value in every worker. @default 1000 */
  readonly stalledIntervalMs?: number;
}

/** Starts the worker; `close()` waits for jobs in flight (`close(true)` does not). */
export function createPagerDutyEventsWorker(options: PagerDutyEventsWorkerOptions): { readonly worker: Worker<PagerDutyEventJob>; close(force?: boolean): Promise<void> } {
  // The webhook's trace continues here: an auto-started run's span is a child of the delivery's.
  const worker = new Worker<PagerDutyEventJob>(PAGERDUTY_EVENTS_QUEUE, async (job) => withTraceparent(job.data.traceparent, () => options.handle(job.data)), {
    connection: options.connection,
    prefix: options.queuePrefix,
    concurrency: options.concurrency ?? 4,
    lockDuration: options.lockDurationMs ?? 5_000,
    stalledInterval: options.stalledIntervalMs ?? 1_000,
    maxStalledCount: 5,
  });
  worker.on('error', (error) => options.logger.warn({ err: error.message }, 'pagerduty-events worker error'));
  worker.on('failed', (job, error) => options.logger.error({ eventId: job?.data.event.id, attempts: job?.attemptsMade, err: error.message }, 'a PagerDuty event job failed'));
  let closing: Promise<void> | undefined;
  return { worker, close: (force = false) => (closing ??= worker.close(force)) };
}

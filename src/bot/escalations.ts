/**
 * Performs `escalation.fire` effects (issue 6): an SLA rung of a step waiting for a person fired.
 *
 * - `notify` → a reminder in the run's channel (the incident's channel when the run belongs to an
 *   incident that has one, else the channel the run was started from), as a thread reply to the
 *   run message when there is one, mentioning user groups as `<!subteam^ID>` (handles resolved
 *   with `usergroups.list`) and users as `<@U…>`.
 * - `page` → PagerDuty: when the run's incident has a PagerDuty incident, it is escalated to the
 *   next level (`PUT /incidents/{id}` `escalation_level`); otherwise an incident is opened on the
 *   rung's service / escalation policy with an `incident_key` derived from run, step and rung, so
 *   a redelivered job adopts the first incident instead of paging twice.
 *
 * At least once, never twice: each part leaves a marker in Redis once done, and the escalation
 * level to reach is fixed (SET NX) before the `PUT`, so a retry sets the same level again. A rung
 * whose step stopped waiting before the job ran (approved in between) does nothing.
 *
 * Errors are coded: a 4xx from PagerDuty or a permanent Slack error is not retried
 * (`UnrecoverableError`); a network error, 5xx or 429 is, by the notify job's backoff.
 */
import { createHash } from 'node:crypto';
import type { WebClient } from '@slack/web-api';
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EngineLogger } from '../engine/engine.ts';
import type { IncidentRecord } from '../engine/incident-port.ts';
import type { NotifyJob } from '../engine/queues.ts';
import type { RunRecord } from '../engine/run-store.ts';
import type { Notifier } from '../engine/workers.ts';
import type { PagerDutyClient } from '../integrations/pagerduty.ts';
import { toSlackCallError } from '../integrations/slack.ts';
import { sendPage } from './pagerduty-page.ts';
import { formatDuration } from '../machines/durations.ts';
import { CodedError } from '../shared/coded-error.ts';
import { slackNotifierKeys, type MessageRef, type RunReader } from './notifier.ts';

export type EscalationFire = Extract<NotifyJob['effect'], { kind: 'escalation.fire' }>;

export const ESCALATION_ERROR_CODES = {
  notify: 'escalation_notify_failed',
  page: 'escalation_page_failed',
  unconfigured: 'escalation_unconfigured',
} as const;

export class EscalationError extends CodedError<(typeof ESCALATION_ERROR_CODES)[keyof typeof ESCALATION_ERROR_CODES]> {}

/** Options of {@link createEscalationNotifier}; durations in milliseconds. */
export interface EscalationNotifierOptions {
  /** Slack client for reminders; without one, `notify` rungs are logged and skipped. @default none */
  readonly slack?: WebClient;
  /** PagerDuty client for pages; without one, a `page` rung fails (not retried). @default none */
  readonly pagerduty?: PagerDutyClient;
  /** Service (name or id) for a page naming only an escalation policy. @default none */
  readonly defaultService?: string;
  /** A command connection. */
  readonly redis: Redis;
  /** The deployment's key prefix (`AppConfig.redisPrefix`). */
  readonly prefix: string;
  readonly engine: RunReader;
  /** The incident service (`runtime.incidents`): a run's incident channel and PagerDuty incident. @default none */
  readonly incidents?: { get(incidentId: string): Promise<IncidentRecord | undefined> };
  readonly logger: EngineLogger;
  /** How long markers of done escalations are kept. @default 30 days */
  readonly retentionMs?: number;
}

/** Whether a notify job carries an `escalation.fire` effect. */
export function isEscalationJob(job: NotifyJob): job is NotifyJob & { effect: EscalationFire } {
  return job.effect.kind === 'escalation.fire';
}

/** The jobs the escalation notifier handles: rungs firing, and the waits they escalated closing. */
export function isEscalationOrClosingJob(job: NotifyJob): boolean {
  return isEscalationJob(job) || job.effect.kind === 'approval.closed' || job.effect.kind === 'manual.closed';
}

/** `runbook-esc-<32 hex>`: the same for every delivery of one rung of one step of one run. */
export function escalationIncidentKey(runId: string, stepId: string, rung: number): string {
  return `runbook-esc-${createHash('sha256').update(`${runId}/${stepId}/${rung}`).digest('hex').slice(0, 32)}`;
}

const WAITING = new Set(['awaiting_approval', 'awaiting_manual']);

/** Builds the notifier part for `escalation.fire` jobs (compose it with {@link composeNotifiers}). */
export function createEscalationNotifier(options: EscalationNotifierOptions): Notifier {
  const { redis, logger } = options;
  const retentionMs = options.retentionMs ?? 30 * 86_400_000;
  const marker = (job: NotifyJob, effect: EscalationFire, part: string) => `${options.prefix}:escalation:${job.runId}:${effect.stepId}:${effect.rung}:${part}`;

  const pagesKey = (runId: string, stepId: string) => `${options.prefix}:escalation:${runId}:${stepId}:pages`;

  return async (job) => {
    if (job.effect.kind === 'approval.closed' || job.effect.kind === 'manual.closed') {
      await resolvePages(options, job.runId, job.effect.stepId, job.effect.outcome, pagesKey(job.runId, job.effect.stepId));
      return;
    }
    if (!isEscalationJob(job)) return;
    const effect = job.effect;
    const run = await options.engine.getRun(job.runId);
    if (!run) return;
    const state = run.snapshot.context.steps[effect.stepId];
    if (run.status !== 'active' || !state || !WAITING.has(state.status)) {
      logger.info({ runId: run.id, stepId: effect.stepId, rung: effect.rung }, 'escalation skipped: the step no longer waits');
      return;
    }
    const incident = run.incidentId && options.incidents ? await options.incidents.get(run.incidentId) : undefined;
    if (effect.notify && effect.notify.length > 0 && !(await redis.exists(marker(job, effect, 'notify')))) {
      await remind(options, run, effect, incident);
      await redis.set(marker(job, effect, 'notify'), '1', 'PX', retentionMs);
    }
    if (effect.page && !(await redis.exists(marker(job, effect, 'page')))) {
      await page(options, run, effect, incident, marker(job, effect, 'level'), retentionMs, pagesKey(run.id, effect.stepId));
      await redis.set(marker(job, effect, 'page'), '1', 'PX', retentionMs);
    }
  };
}

async function remind(options: EscalationNotifierOptions, run: RunRecord, effect: EscalationFire, incident: IncidentRecord | undefined): Promise<void> {
  if (!options.slack) {
    options.logger.warn({ runId: run.id, stepId: effect.stepId, rung: effect.rung }, 'escalation reminder not sent: Slack is not configured');
    return;
  }
  const refText = await options.redis.get(slackNotifierKeys(options.prefix).message(run.id));
  const ref = refText ? (JSON.parse(refText) as MessageRef) : undefined;
  const incidentChannel = incident?.context.slack?.channelId;
  const channel = incidentChannel ?? ref?.channel ?? (run.origin?.kind === 'slack' ? run.origin.channel : undefined);
  if (!channel) {
    options.logger.warn({ runId: run.id, stepId: effect.stepId, rung: effect.rung }, 'escalation reminder not sent: the run has no Slack channel (not started from Slack, no incident channel)');
    return;
  }
  const threadTs = ref && ref.channel === channel ? ref.ts : undefined;
  try {
    const mentions = await mentionsOf(options.slack, effect.notify ?? []);
    const title = options.engine.runbookOf(run).steps.find((s) => s.id === effect.stepId)?.title ?? effect.stepId;
    await options.slack.chat.postMessage({ channel, text: reminderText(effect, title, mentions, run.id), ...(threadTs ? { thread_ts: threadTs } : {}), unfurl_links: false, unfurl_media: false });
  } catch (error) {
    const failure = toSlackCallError(error, 'chat.postMessage');
    const coded = new EscalationError(ESCALATION_ERROR_CODES.notify, `the reminder for step \`${effect.stepId}\` of run ${run.id} could not be posted in ${channel}: ${failure.message}`, { retryable: failure.retryable, cause: failure });
    throw failure.retryable ? coded : new UnrecoverableError(coded.message);
  }
}

/** `⏰ “Approve the rollback” has waited 10m for an approval. <!subteam^S1> <@U2> (run r-1)` */
export function reminderText(effect: EscalationFire, stepTitle: string, mentions: readonly string[], runId: string): string {
  const waitingFor = effect.waitingFor === 'approval' ? 'an approval' : 'someone to do it';
  const overdue = effect.expired ? ' and is overdue' : '';
  return `⏰ “${stepTitle}” has waited ${formatDuration(effect.afterMs)} for ${waitingFor}${overdue}. ${mentions.join(' ')} (run \`${runId}\`)`.replace(/\s+\(/, ' (');
}

/** Slack mentions: `@handle` → `<!subteam^ID>` (or the handle as text if Slack has no such group), `U…` → `<@U…>`. */
export async function mentionsOf(slack: WebClient, targets: readonly string[]): Promise<string[]> {
  const handles = targets.filter((t) => t.startsWith('@'));
  let groups = new Map<string, string>();
  if (handles.length > 0) {
    try {
      const listed = await slack.usergroups.list({});
      groups = new Map((listed.usergroups ?? []).flatMap((g) => (g.handle && g.id ? [[g.handle, g.id] as const] : [])));
    } catch (error) {
      throw toSlackCallError(error, 'usergroups.list');
    }
  }
  return targets.map((t) => {
    if (!t.startsWith('@')) return `<@${t}>`;
    const id = groups.get(t.slice(1));
    return id ? `<!subteam^${id}>` : t;
  });
}

/**
 * The wait a page escalated is over (approved, rejected, expired, done, cancelled): resolve the
 * PagerDuty incidents its rungs opened, so nobody is woken for a decision already made. Pages that
 * escalated the run's own incident are left alone: that incident is the responders' to close.
 */
async function resolvePages(options: EscalationNotifierOptions, runId: string, stepId: string, outcome: string, key: string): Promise<void> {
  const pd = options.pagerduty;
  if (!pd) return;
  const opened = await options.redis.smembers(key);
  for (const id of opened) {
    try {
      await pd.updateIncident(id, { status: 'resolved', resolution: `Runbook run ${runId}: step ${stepId} is no longer waiting (${outcome}).` });
    } catch (error) {
      const shape = error as { retryable?: unknown; message?: unknown };
      if (shape.retryable === false) {
        options.logger.warn({ runId, stepId, incident: id, err: String(shape.message ?? error) }, 'escalation page could not be resolved');
      } else {
        throw error;
      }
    }
    await options.redis.srem(key, id);
    options.logger.info({ runId, stepId, incident: id, outcome }, 'escalation page resolved: the wait is over');
  }
}

async function page(options: EscalationNotifierOptions, run: RunRecord, effect: EscalationFire, incident: IncidentRecord | undefined, levelKey: string, retentionMs: number, pagesKey: string): Promise<void> {
  const pd = options.pagerduty;
  const what = `the page for step \`${effect.stepId}\` of run ${run.id}`;
  if (!pd) throw new UnrecoverableError(new EscalationError(ESCALATION_ERROR_CODES.unconfigured, `${what} was not sent: PagerDuty is not configured (PAGERDUTY_TOKEN, PAGERDUTY_FROM)`).message);
  // The run's incident says which PagerDuty incident it mirrors (a run origin names the incident here, not PagerDuty's).
  const pagerDutyIncidentId = incident?.context.pagerDuty?.incidentId;
  const runbook = options.engine.runbookOf(run);
  const title = runbook.steps.find((s) => s.id === effect.stepId)?.title ?? effect.stepId;
  try {
    const outcome = await sendPage({ pagerDuty: pd, redis: options.redis, retentionMs, ...(options.defaultService ? { defaultService: options.defaultService } : {}) }, {
      ...(pagerDutyIncidentId ? { pagerDutyIncidentId } : {}),
      levelKey,
      page: effect.page ?? {},
      title: `Runbook “${runbook.title}”: “${title}” has waited ${formatDuration(effect.afterMs)} for ${effect.waitingFor === 'approval' ? 'an approval' : 'a person'}`,
      details: `run ${run.id}, step ${effect.stepId}, escalation rung ${effect.rung + 1}`,
      incidentKey: escalationIncidentKey(run.id, effect.stepId, effect.rung),
    });
    if (outcome.kind === 'unconfigured') throw new UnrecoverableError(`${what} ${outcome.reason}`);
    if (outcome.kind === 'escalated') {
      options.logger.info({ runId: run.id, stepId: effect.stepId, incident: outcome.incidentId, level: outcome.level }, 'escalation: PagerDuty incident escalated');
      return;
    }
    // Remembered so the page is resolved once the wait is over (see resolvePages).
    await options.redis.multi().sadd(pagesKey, outcome.incident.id).pexpire(pagesKey, retentionMs).exec();
    options.logger.info({ runId: run.id, stepId: effect.stepId, incident: outcome.incident.id, adopted: !outcome.created }, 'escalation: PagerDuty paged');
  } catch (error) {
    if (error instanceof UnrecoverableError) throw error;
    const shape = error as { retryable?: unknown; message?: unknown };
    const retryable = shape.retryable !== false;
    const coded = new EscalationError(ESCALATION_ERROR_CODES.page, `${what} failed: ${String(shape.message ?? error)}`, { retryable, cause: error });
    throw retryable ? coded : new UnrecoverableError(coded.message);
  }
}

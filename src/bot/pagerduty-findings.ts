/**
 * Findings of auto-started runs (issue 6): when a run PagerDuty started first stops to wait for a
 * person (`approval.request`, `manual.request`) or finishes (`run.finished`), post once what its
 * read-only steps found: as a note on the PagerDuty incident (pdjs, `From` header) and into the
 * incident (an `incident.note` on its timeline, and an `incident.post` for its Slack channel).
 *
 * A notify-queue part, composed beside the Slack run-message notifier. Once per run: a Redis
 * marker per run and destination, claimed with SET NX while posting (a short lease) and made
 * permanent after; a job that finds a live lease retries later, one that finds the permanent
 * marker does nothing. The summary is built from the run's CURRENT state, with the run's secret
 * params and anything secret-looking redacted, each output truncated.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { redactSecrets } from '../audit/redact.ts';
import type { IncidentEffectJob, Incidents } from '../engine/incident-port.ts';
import { jobId } from '../engine/keys.ts';
import { NOTIFY_JOB_OPTIONS, type NotifyJob } from '../engine/queues.ts';
import type { RunRecord } from '../engine/run-store.ts';
import type { Notifier } from '../engine/workers.ts';
import type { PagerDutyClient } from '../integrations/pagerduty.ts';
import type { Runbook } from '../machines/ir.ts';
import { CodedError } from '../shared/coded-error.ts';
import type { BotLogger } from './ports.ts';

/** Effects at which an auto-started run's findings are posted. */
const FINDINGS_AT: ReadonlySet<string> = new Set(['approval.request', 'manual.request', 'run.finished']);

/** Options of {@link createPagerDutyFindingsNotifier}; durations in milliseconds. */
export interface PagerDutyFindingsOptions {
  readonly engine: { getRun(runId: string): Promise<RunRecord | undefined>; runbookOf(run: RunRecord): Runbook };
  /** Unset: no PagerDuty note (PAGERDUTY_TOKEN not configured). */
  readonly pagerDuty?: Pick<PagerDutyClient, 'addNote'>;
  readonly incidents: Pick<Incidents, 'send' | 'get'>;
  /** The `incident-effects` queue, for the channel post; unset: timeline only. */
  readonly incidentEffects?: Pick<Queue<IncidentEffectJob>, 'add'>;
  readonly redis: Redis;
  readonly prefix: string;
  readonly logger: BotLogger;
  /** Characters of one step's output in the summary. @default 400 */
  readonly maxOutputChars?: number;
  /** How long posting may hold the lease. @default 60000 */
  readonly leaseMs?: number;
}

/** Another job is posting the findings right now: retry later. */
export class FindingsBusyError extends CodedError<'findings_busy'> {
  constructor(runId: string) {
    super('findings_busy', `the findings of run ${runId} are being posted by another job; retrying`, { retryable: true });
  }
}

/** The notifier part; jobs of runs not started by PagerDuty, or of other effects, are ignored. */
export function createPagerDutyFindingsNotifier(options: PagerDutyFindingsOptions): Notifier {
  return async (job: NotifyJob) => {
    if (!FINDINGS_AT.has(job.effect.kind)) return;
    const run = await options.engine.getRun(job.runId);
    if (!run || run.origin?.kind !== 'pagerduty') return;
    const runbook = options.engine.runbookOf(run);
    const summary = summarizeFindings(run, runbook, options.maxOutputChars ?? 400);
    const incidentId = run.origin.incidentId;
    const pdId = pagerDutyIdOf(run) ?? (await options.incidents.get(incidentId))?.context.pagerDuty?.incidentId;
    if (options.pagerDuty && pdId) {
      const client = options.pagerDuty;
      await once(options, `${run.id}:pagerduty`, () => client.addNote(pdId, summary));
    }
    await once(options, `${run.id}:incident`, async () => {
      await options.incidents.send(incidentId, { type: 'incident.note', by: { id: 'system', name: 'Runbook Bot' }, text: summary });
      await options.incidentEffects?.add('effect', { incidentId, version: 0, effect: { kind: 'incident.post', text: summary } }, { ...NOTIFY_JOB_OPTIONS, jobId: jobId(incidentId, 'findings', run.id) });
    });
    options.logger.info({ runId: run.id, incidentId, pagerDutyIncidentId: pdId }, 'posted the findings of an auto-started run');
  };
}

/** Runs `post` once per key: a lease while posting, a permanent marker after. */
async function once(options: PagerDutyFindingsOptions, key: string, post: () => Promise<unknown>): Promise<void> {
  const marker = `${options.prefix}:pagerduty:findings:${key}`;
  const claimed = await options.redis.set(marker, 'posting', 'PX', options.leaseMs ?? 60_000, 'NX');
  if (claimed !== 'OK') {
    if ((await options.redis.get(marker)) === 'posted') return;
    throw new FindingsBusyError(key);
  }
  try {
    await post();
  } catch (error) {
    await options.redis.del(marker).catch(() => 0);
    throw error;
  }
  await options.redis.set(marker, 'posted', 'PX', 30 * 86_400_000);
}

/**
 * The findings as plain text (PagerDuty notes are not Markdown): what each completed read-only
 * step returned, what failed, and what the run waits for now.
 */
export function summarizeFindings(run: RunRecord, runbook: Runbook, maxOutputChars: number): string {
  const context = run.snapshot.context;
  const secrets = runbook.params.filter((p) => p.secret).map((p) => run.params[p.name]).filter((v): v is string => typeof v === 'string' && v.length > 0);
  const hide = (text: string) => secrets.reduce((out, secret) => out.split(secret).join('[redacted]'), text);
  const lines = [`Runbook Bot: ${runbook.title} (${runbook.id}), run ${run.id}, started by PagerDuty.`];
  for (const step of runbook.steps) {
    const state = context.steps[step.id];
    if (!state || step.mutating || step.kind !== 'call') continue;
    if (state.status === 'succeeded') lines.push(`- ${step.title}: ${truncate(hide(JSON.stringify(redactSecrets(state.output ?? null)) ?? 'null'), maxOutputChars)}`);
    else if (state.status === 'failed' && state.error) lines.push(`- ${step.title}: FAILED (${state.error.code}) ${truncate(hide(String(redactSecrets(state.error.message))), maxOutputChars)}`);
  }
  if (lines.length === 1) lines.push('- No read-only step has completed.');
  lines.push(waitingFor(run, runbook));
  return truncate(lines.join('\n'), 20_000);
}

function waitingFor(run: RunRecord, runbook: Runbook): string {
  if (run.status !== 'active') return `Run finished: ${run.status}.`;
  const steps = run.snapshot.context.steps;
  const approval = runbook.steps.find((s) => steps[s.id]?.status === 'awaiting_approval');
  if (approval) return `Now waiting for an approval in Slack: "${approval.title}" (step ${approval.id}).`;
  const manual = runbook.steps.find((s) => steps[s.id]?.status === 'awaiting_manual');
  if (manual) return `Now waiting for a person to do "${manual.title}" (step ${manual.id}) and mark it done in Slack.`;
  return 'The run is still going.';
}

function pagerDutyIdOf(run: RunRecord): string | undefined {
  const value = run.snapshot.context.incident?.['pagerduty_id'];
  return typeof value === 'string' && value ? value : undefined;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

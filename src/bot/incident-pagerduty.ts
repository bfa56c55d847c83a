/**
 * The PagerDuty part of the incident effect handler (issue 6): mirrors moves made here to the
 * PagerDuty incident the incident is linked to, and adds notes to it, through the pdjs client of
 * `integrations/pagerduty.ts` (every write carries `From: PAGERDUTY_FROM`; pdjs does not reject on
 * 4xx/5xx, the client checks statuses).
 *
 * At least once: a repeated `pagerduty.status` finds PagerDuty already there (PagerDuty answers
 * 400 "Incident Already Resolved"; the handler re-reads the incident and treats "already at or
 * past the wanted status" as done). A repeated `pagerduty.note` is skipped by a Redis marker per
 * job. Failures are coded: 429, 5xx and network errors are retried by the queue; other 4xx are
 * not (thrown as BullMQ's `UnrecoverableError`, carrying `code` and `retryable: false`).
 */
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IncidentEffectHandler, IncidentEffectJob, Incidents } from '../engine/incident-port.ts';
import { PagerDutyError, type PagerDutyClient } from '../integrations/pagerduty.ts';
import { CodedError } from '../shared/coded-error.ts';
import type { BotLogger } from './ports.ts';

/** Effect kinds this handler performs. */
export const PAGERDUTY_EFFECT_KINDS = ['pagerduty.status', 'pagerduty.note'] as const;

/** Options of {@link createPagerDutyIncidentEffects}. */
export interface PagerDutyIncidentEffectsOptions {
  readonly pagerDuty: Pick<PagerDutyClient, 'updateIncident' | 'getIncident' | 'addNote'>;
  readonly incidents: Pick<Incidents, 'get'>;
  /** For the note markers. */
  readonly redis: Redis;
  readonly prefix: string;
  readonly logger: BotLogger;
  /** How long a posted note's marker is kept. @default 30 days */
  readonly markerTtlMs?: number;
}

/** A PagerDuty sync that did not happen; `code` is the client's (`pagerduty_rejected`, …) or `incident_not_linked`. */
export class PagerDutySyncError extends CodedError {}

const RANK: Readonly<Record<string, number>> = { triggered: 0, acknowledged: 1, resolved: 2 };

/** The handler for `pagerduty.status` and `pagerduty.note` effects; other kinds are ignored. */
export function createPagerDutyIncidentEffects(options: PagerDutyIncidentEffectsOptions): IncidentEffectHandler {
  const { pagerDuty, logger } = options;
  return async (job) => {
    const effect = job.effect;
    if (effect.kind !== 'pagerduty.status' && effect.kind !== 'pagerduty.note') return;
    const incident = await options.incidents.get(job.incidentId);
    const pdId = incident?.context.pagerDuty?.incidentId;
    if (!pdId) {
      logger.warn({ incidentId: job.incidentId, effect: effect.kind }, 'incident is not linked to PagerDuty; nothing to sync');
      return;
    }
    try {
      if (effect.kind === 'pagerduty.status') {
        await setStatus(pagerDuty, pdId, effect.status, effect.resolution);
      } else {
        const marker = `${options.prefix}:pagerduty:note:${job.incidentId}:${job.version}:${noteIndex(job)}`;
        if (await options.redis.exists(marker)) return;
        await pagerDuty.addNote(pdId, effect.content.slice(0, 24_000));
        await options.redis.set(marker, '1', 'PX', options.markerTtlMs ?? 30 * 86_400_000);
      }
      logger.info({ incidentId: job.incidentId, pagerDutyIncidentId: pdId, effect: effect.kind }, 'synced to PagerDuty');
    } catch (error) {
      throw jobError(error, job, pdId);
    }
  };
}

async function setStatus(pagerDuty: PagerDutyIncidentEffectsOptions['pagerDuty'], pdId: string, status: 'acknowledged' | 'resolved', resolution?: string): Promise<void> {
  try {
    await pagerDuty.updateIncident(pdId, { status, ...(resolution ? { resolution } : {}) });
  } catch (error) {
    if (!(error instanceof PagerDutyError) || error.retryable) throw error;
    // A repeat, or PagerDuty moved on by itself: done when it is already at or past `status`.
    const now = await pagerDuty.getIncident(pdId);
    if ((RANK[now.status] ?? -1) >= (RANK[status] ?? 99)) return;
    throw error;
  }
}

/** Effects of one job are told apart by content, since the job carries no index. */
function noteIndex(job: IncidentEffectJob): string {
  const text = job.effect.kind === 'pagerduty.note' ? job.effect.content : '';
  let hash = 0;
  for (let i = 0; i < text.length; i += 1) hash = (hash * 31 + text.charCodeAt(i)) | 0;
  return (hash >>> 0).toString(36);
}

function jobError(error: unknown, job: IncidentEffectJob, pdId: string): Error {
  const where = `${job.effect.kind} of ${job.incidentId} (PagerDuty ${pdId})`;
  if (error instanceof PagerDutyError) {
    if (error.retryable) return new PagerDutySyncError(error.code, `${where}: ${error.message}`, { retryable: true, cause: error });
    // Not worth retrying (a 4xx other than 429): fail the job now, still coded.
    return Object.assign(new UnrecoverableError(`${where}: ${error.message}`), { code: error.code, retryable: false, cause: error });
  }
  return error instanceof Error ? error : new PagerDutySyncError('pagerduty_request_failed', `${where}: ${String(error)}`, { retryable: true });
}

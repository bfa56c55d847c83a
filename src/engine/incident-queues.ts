/**
 * The incident queues (issue 6): `incident-effects` (channel, summary, posts, PagerDuty sync,
 * escalations, performed by an injected {@link IncidentEffectHandler}) and `incident-timers`
 * (acknowledgement SLA timers as BullMQ delayed jobs, DESIGN.md §2). Every job id is
 * deterministic, so dispatching one outbox entry twice adds nothing twice.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IncidentEffect } from '../machines/incident-types.ts';
import type { IncidentEffectJob } from './incident-port.ts';
import { jobId, type EngineKeys } from './keys.ts';
import { NOTIFY_JOB_OPTIONS, TIMER_JOB_OPTIONS } from './queues.ts';

export const INCIDENT_QUEUE_NAMES = { effects: 'incident-effects', timers: 'incident-timers' } as const;

/** A due SLA timer of an incident: becomes `timer.fired` sent to the incident service. */
export interface IncidentTimerJob {
  readonly incidentId: string;
  readonly timerId: string;
}

export interface IncidentQueues {
  readonly effects: Queue<IncidentEffectJob>;
  readonly timers: Queue<IncidentTimerJob>;
  close(): Promise<void>;
}

/** `INC-7-timer-ack-0`: one job per incident and timer, so scheduling is idempotent and cancelling knows what to remove. */
export const incidentTimerJobId = (incidentId: string, timerId: string) => jobId(incidentId, 'timer', timerId);
/** `INC-7-v-3-1`: effect 1 of the transition that made version 3. */
export const incidentEffectJobId = (incidentId: string, version: number, index: number) => jobId(incidentId, 'v', version, index);

export function createIncidentQueues(connection: Redis, keys: EngineKeys): IncidentQueues {
  const options = { connection, prefix: keys.queuePrefix };
  const effects = new Queue<IncidentEffectJob>(INCIDENT_QUEUE_NAMES.effects, options);
  const timers = new Queue<IncidentTimerJob>(INCIDENT_QUEUE_NAMES.timers, options);
  for (const queue of [effects, timers]) queue.on('error', () => undefined); // surfaced by the connection's own logger
  let closed: Promise<void> | undefined;
  return { effects, timers, close: () => (closed ??= Promise.all([effects.close(), timers.close()]).then(() => undefined)) };
}

/** Turns an incident's committed effects into jobs. */
export class IncidentDispatcher {
  constructor(private readonly queues: IncidentQueues) {}

  async dispatch(incidentId: string, version: number, effects: readonly IncidentEffect[]): Promise<void> {
    for (const [index, effect] of effects.entries()) await this.dispatchOne(incidentId, version, index, effect);
  }

  private async dispatchOne(incidentId: string, version: number, index: number, effect: IncidentEffect): Promise<void> {
    switch (effect.kind) {
      case 'timer.schedule':
        await this.queues.timers.add('timer', { incidentId, timerId: effect.timerId }, { ...TIMER_JOB_OPTIONS, delay: effect.delayMs, jobId: incidentTimerJobId(incidentId, effect.timerId) });
        return;
      case 'timer.cancel':
        // A timer that already fired, or is firing right now, is harmless: the machine ignores it (`timer_not_pending`).
        await this.queues.timers.remove(incidentTimerJobId(incidentId, effect.timerId)).catch(() => 0);
        return;
      default:
        await this.queues.effects.add('effect', { incidentId, version, effect }, { ...NOTIFY_JOB_OPTIONS, jobId: incidentEffectJobId(incidentId, version, index) });
    }
  }
}

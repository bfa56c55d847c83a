/**
 * Composes the incident effect handler from parts (PagerDuty here, Slack in its own module): each
 * part names the effect kinds it performs, and a job goes to the part for its kind. A kind no part
 * claims is logged and dropped, so a new effect never jams the queue.
 */
import type { IncidentEffectHandler } from '../engine/incident-port.ts';
import type { IncidentEffect } from '../machines/incident-types.ts';
import type { BotLogger } from './ports.ts';

/** One part of the handler and the effect kinds it performs. */
export interface IncidentEffectPart {
  readonly kinds: readonly IncidentEffect['kind'][];
  readonly handle: IncidentEffectHandler;
}

/** One handler dispatching by effect kind; the first part claiming a kind gets it. */
export function composeIncidentEffectHandlers(parts: readonly IncidentEffectPart[], logger: BotLogger): IncidentEffectHandler {
  const byKind = new Map<string, IncidentEffectHandler>();
  for (const part of parts) for (const kind of part.kinds) if (!byKind.has(kind)) byKind.set(kind, part.handle);
  return async (job) => {
    const handle = byKind.get(job.effect.kind);
    if (!handle) {
      logger.info({ incidentId: job.incidentId, version: job.version, effect: job.effect.kind }, 'no handler for this incident effect; dropped');
      return;
    }
    await handle(job);
  };
}

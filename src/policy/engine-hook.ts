/**
 * The policy as the engine's start hook: every run start is decided by {@link decideRun}, and what
 * the reviewer needs to see (approval requirement, freeze window, blast-radius violations) rides
 * along into the `policy.decision` audit record.
 */
import type { StartPolicy } from '../engine/engine.ts';
import { decideRun } from './evaluate.ts';
import type { Policy } from './types.ts';

/** Decides run starts under `policy`. */
export function createStartPolicy(policy: Policy): StartPolicy {
  return (request, runbook, params, at) => {
    const decision = decideRun({ policy, person: request.requester, runbook, params, at, breakGlass: request.breakGlass === true });
    return {
      outcome: decision.outcome,
      rule: decision.rule,
      reason: decision.reason,
      helpers: decision.helpers,
      details: {
        ...(decision.approvalRequirement ? { approvalRequirement: decision.approvalRequirement } : {}),
        ...(decision.freeze ? { freeze: decision.freeze } : {}),
        ...(decision.blastRadius.length > 0 ? { blastRadius: decision.blastRadius } : {}),
      },
    };
  };
}

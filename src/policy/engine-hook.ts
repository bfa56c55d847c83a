/**
 * The policy as the engine's start hook: every run start is decided by {@link decideRun}, and what
 * the reviewer needs to see (approval requirement, freeze window, blast-radius violations) rides
 * along into the `policy.decision` audit record. Runs PagerDuty starts first pass the `auto_start`
 * rules ({@link decideAutoStart}).
 */
import type { StartPolicy } from '../engine/engine.ts';
import { decideAutoStart, decideRun } from './evaluate.ts';
import type { Policy } from './types.ts';

/** Decides run starts under `policy`. */
export function createStartPolicy(policy: Policy): StartPolicy {
  return (request, runbook, params, at) => {
    if (request.origin?.kind === 'pagerduty') {
      // A run with no human behind it: the auto_start rules speak first.
      const auto = decideAutoStart({ policy, runbook });
      if (!auto.allowed) return { outcome: 'deny', rule: auto.rule, reason: auto.reason, helpers: runbook.owner ? [runbook.owner] : [], details: { autoStart: auto } };
    }
    const decision = decideRun({ policy, person: request.requester, runbook, params, at, breakGlass: request.breakGlass === true });
    const unattended = request.origin?.kind === 'pagerduty' ? decideAutoStart({ policy, runbook }).unattended.filter((id) => runbook.steps.some((s) => s.id === id && s.mutating)) : [];
    return {
      ...(unattended.length > 0 ? { unattendedSteps: unattended } : {}),
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

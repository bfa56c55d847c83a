/**
 * Whether a runbook's own approval gates meet what the policy requires: a gate (with no `when`,
 * so it cannot be skipped) before every step the requirement covers, asking for at least the
 * quorum, from eligible approvers only, and not letting the requester approve when excluded.
 */
import type { ApprovalGate, Runbook, Step } from '../machines/ir.ts';

/** What the policy asks of the approvals a run collects. */
export interface ApprovalRequirement {
  /** The rule that asks for it (`policy.yaml:31 prod-mutating`). */
  readonly rule: string;
  readonly quorum: number;
  /** Role names whose members may approve; absent: anyone. */
  readonly roles?: readonly string[];
  /** Those roles' members: user ids, `@groups`, `cli:<user>`. */
  readonly eligible?: readonly string[];
  readonly excludeRequester: boolean;
  /** Which steps need a gate before them: mutating ones, or every executable one. */
  readonly covers: 'mutating' | 'calls';
  readonly why: string;
}

export interface GateCoverage {
  readonly ok: boolean;
  /** The gates (step ids) that satisfy the requirement. */
  readonly gates: readonly string[];
  /** Per uncovered step: what is missing. */
  readonly gaps: readonly { readonly stepId: string; readonly problem: string }[];
}

/** Checks the runbook's gates against the requirement, in step order. */
export function checkGates(runbook: Runbook, requirement: ApprovalRequirement): GateCoverage {
  const gates = new Set<string>();
  const gaps: { stepId: string; problem: string }[] = [];
  let best: { step: Step; problem?: string } | undefined;
  for (const step of runbook.steps) {
    if (step.kind === 'approval' && step.approval && step.when === undefined) {
      const problem = gateShortfall(step.approval, requirement);
      if (!best || best.problem !== undefined) best = { step, ...(problem ? { problem } : {}) };
      continue;
    }
    const covered = requirement.covers === 'mutating' ? step.mutating : step.kind === 'call';
    if (!covered) continue;
    if (best && best.problem === undefined) gates.add(best.step.id);
    else gaps.push({ stepId: step.id, problem: best ? `gate \`${best.step.id}\` ${best.problem}` : 'no approval gate comes before it' });
  }
  return { ok: gaps.length === 0, gates: [...gates], gaps };
}

/** What a gate lacks against the requirement, or undefined when it is enough. */
export function gateShortfall(gate: ApprovalGate, requirement: ApprovalRequirement): string | undefined {
  if (gate.quorum < requirement.quorum) return `asks for ${gate.quorum} approval${gate.quorum === 1 ? '' : 's'}, the policy needs ${requirement.quorum}`;
  if (requirement.excludeRequester && gate.allowSelf) return 'lets the requester approve (`allow_self: true`), the policy excludes the requester';
  const eligible = requirement.eligible;
  if (eligible) {
    if (gate.from.length === 0) return `lets anyone approve, the policy needs approvers from ${rolesText(requirement)}`;
    const outside = gate.from.filter((entry) => !eligible.includes(entry));
    if (outside.length > 0) return `names approvers outside ${rolesText(requirement)}: ${outside.join(', ')}`;
  }
  return undefined;
}

function rolesText(requirement: ApprovalRequirement): string {
  return (requirement.roles ?? []).map((r) => `role \`${r}\``).join(', ');
}

/**
 * The pure decision engine: given the policy, a person, a runbook, its params and the time, what
 * happens and which rule says so. No I/O and no clock: `at` comes in with the request.
 *
 * A run start is decided in this order, first word wins: run rules (who may run it), blast-radius
 * limits, change-freeze windows (mutating runs refused unless break-glass), approval rules. An
 * approval requirement is met by the runbook's own gates (see `gates.ts`): the run is then
 * `require_approval`; a runbook whose gates fall short is denied, saying what to add.
 */
import type { Runbook } from '../machines/ir.ts';
import { checkBlastRadius, type BlastRadiusViolation } from './blast-radius.ts';
import { checkGates, type ApprovalRequirement } from './gates.ts';
import { isInRoles, membersOf, selects, type PolicyPerson } from './match.ts';
import { isInWindow } from './time.ts';
import { formatRuleRef, type FreezeWindow, type Policy, type SlaDefaults } from './types.ts';

export type RunOutcome = 'allow' | 'deny' | 'require_approval';

export interface RunRequestFacts {
  readonly policy: Policy;
  readonly person: PolicyPerson;
  readonly runbook: Runbook;
  readonly params: Readonly<Record<string, unknown>>;
  /** When the run would start, epoch ms. */
  readonly at: number;
  /** The requester declares an emergency: a freeze then needs two approvers instead of refusing. */
  readonly breakGlass?: boolean;
}

export interface FreezeStatus {
  readonly window: string;
  readonly rule: string;
  readonly timezone: string;
}

export interface RunDecision {
  readonly outcome: RunOutcome;
  /** `policy.yaml:12 prod-needs-oncall`: the rule that decided. */
  readonly rule: string;
  readonly reason: string;
  /** Who can help: members of the roles that could run it or approve it. */
  readonly helpers: readonly string[];
  readonly approvalRequirement?: ApprovalRequirement & { readonly gates: readonly string[] };
  /** The freeze window in force, if any (whether or not it applied). */
  readonly freeze?: FreezeStatus;
  readonly blastRadius: readonly BlastRadiusViolation[];
}

/** Decides whether `person` may start `runbook` now (see the module comment for the order). */
export function decideRun(facts: RunRequestFacts): RunDecision {
  const { policy, person, runbook } = facts;
  const mutating = runbook.steps.some((s) => s.mutating);
  const freeze = activeFreeze(policy, runbook, facts.at);
  const base = { blastRadius: [] as BlastRadiusViolation[], ...(freeze ? { freeze } : {}) };
  const runRule = policy.run.rules.find((r) => selects(r, runbook) && isInRoles(policy, person, r.roles));
  const allowedBy = runRule ? formatRuleRef(runRule.ref) : formatRuleRef(policy.run.defaultRef);
  if ((runRule?.effect ?? policy.run.default) === 'deny') {
    const helpers = whoMayRun(policy, runbook);
    return { ...base, outcome: 'deny', rule: allowedBy, helpers, reason: `${person.id} may not run \`${runbook.id}\`${runRule ? '' : ' (no rule allows it and the default is deny)'}` };
  }
  const violations = checkBlastRadius(policy, runbook, facts.params);
  if (violations.length > 0) {
    const first = violations[0];
    return { ...base, blastRadius: violations, outcome: 'deny', rule: first?.rule ?? '', helpers: runbook.owner ? [runbook.owner] : [], reason: violations.map((v) => v.message).join('; ') };
  }
  let requirement: ApprovalRequirement | undefined;
  if (freeze && mutating) {
    const breakGlass = policy.freeze.breakGlass;
    const helpers = breakGlass.from ? membersOf(policy, breakGlass.from) : [];
    if (!facts.breakGlass) {
      return { ...base, outcome: 'deny', rule: freeze.rule, helpers, reason: `change freeze \`${freeze.window}\` is on (${freeze.timezone}): \`${runbook.id}\` changes things; only a break-glass run with ${breakGlass.quorum} approvers may start` };
    }
    requirement = requirementOf(policy, formatRuleRef(breakGlass.ref), breakGlass.quorum, breakGlass.from, true, 'mutating', `break-glass during change freeze \`${freeze.window}\``);
  } else {
    const rule = policy.approval.find((r) => selects(r, runbook) && riskMatches(r.risk, mutating));
    if (rule) requirement = requirementOf(policy, formatRuleRef(rule.ref), rule.quorum, rule.from, rule.excludeRequester, mutating ? 'mutating' : 'calls', `approval rule \`${rule.ref.name}\``);
  }
  if (!requirement) return { ...base, outcome: 'allow', rule: allowedBy, helpers: [], reason: `${person.id} may run \`${runbook.id}\`` };
  return withRequirement(base, runbook, requirement);
}

function withRequirement(base: Pick<RunDecision, 'blastRadius' | 'freeze'>, runbook: Runbook, requirement: ApprovalRequirement): RunDecision {
  const coverage = checkGates(runbook, requirement);
  const helpers = requirement.eligible ?? [];
  const asked = `${requirement.quorum} approval${requirement.quorum === 1 ? '' : 's'}${requirement.roles ? ` from ${requirement.roles.map((r) => `role \`${r}\``).join(', ')}` : ''}${requirement.excludeRequester ? ' (not the requester)' : ''}`;
  if (!coverage.ok) {
    const gaps = coverage.gaps.map((g) => `step \`${g.stepId}\`: ${g.problem}`).join('; ');
    return { ...base, outcome: 'deny', rule: requirement.rule, helpers, approvalRequirement: { ...requirement, gates: coverage.gates }, reason: `${requirement.why} needs ${asked} before ${requirement.covers === 'mutating' ? 'each mutating step' : 'each step'}, and the runbook's gates fall short (${gaps})` };
  }
  return { ...base, outcome: 'require_approval', rule: requirement.rule, helpers, approvalRequirement: { ...requirement, gates: coverage.gates }, reason: `${requirement.why} needs ${asked}: collected at gate${coverage.gates.length === 1 ? '' : 's'} ${coverage.gates.map((g) => `\`${g}\``).join(', ') || '(none needed)'}` };
}

function requirementOf(policy: Policy, rule: string, quorum: number, roles: readonly string[] | undefined, excludeRequester: boolean, covers: ApprovalRequirement['covers'], why: string): ApprovalRequirement {
  return { rule, quorum, excludeRequester, covers, why, ...(roles ? { roles, eligible: membersOf(policy, roles) } : {}) };
}

function riskMatches(risk: 'mutating' | 'read-only' | 'any', mutating: boolean): boolean {
  return risk === 'any' || (risk === 'mutating') === mutating;
}

/** The first freeze window in force for the runbook's environment at `at`. */
export function activeFreeze(policy: Policy, runbook: { readonly environment?: string }, at: number): FreezeStatus | undefined {
  const window = policy.freeze.windows.find((w) => appliesTo(w, runbook.environment) && isInWindow(w.schedule, at, w.timezone));
  return window ? { window: window.ref.name, rule: formatRuleRef(window.ref), timezone: window.timezone } : undefined;
}

function appliesTo(window: FreezeWindow, environment: string | undefined): boolean {
  return !window.environments || (environment !== undefined && window.environments.includes(environment));
}

/** Members of the roles of the allow rules that select the runbook: the people who could run it. */
function whoMayRun(policy: Policy, runbook: Runbook): string[] {
  const roles = policy.run.rules.filter((r) => r.effect === 'allow' && selects(r, runbook) && r.roles).flatMap((r) => r.roles ?? []);
  const members = membersOf(policy, roles);
  return members.length > 0 ? members : runbook.owner ? [runbook.owner] : [];
}

export interface AutoStartDecision {
  readonly allowed: boolean;
  readonly rule: string;
  readonly reason: string;
  /** Steps that may run with no human (read-only ones, and mutating ones the rule names). */
  readonly unattended: readonly string[];
  /** Mutating steps before any approval gate that wait for a person's confirmation. */
  readonly confirmed: readonly string[];
}

/**
 * Whether a PagerDuty incident may start the runbook with no human, and which mutating steps may
 * then run unattended. Every other mutating step waits for a person's confirmation (the run
 * machine's auto-start gate), unless an approval gate comes before it anyway; so an `allow` never
 * lets a change happen unattended that the policy did not name.
 */
export function decideAutoStart(facts: { readonly policy: Policy; readonly runbook: Runbook }): AutoStartDecision {
  const { policy, runbook } = facts;
  const rule = policy.autoStart.rules.find((r) => selects(r, runbook));
  const ref = formatRuleRef(rule?.ref ?? policy.autoStart.defaultRef);
  if ((rule?.effect ?? policy.autoStart.default) === 'deny') return { allowed: false, rule: ref, reason: `\`${runbook.id}\` may not start from PagerDuty without a human`, unattended: [], confirmed: [] };
  const scope = rule?.steps ?? 'read-only';
  const mayRun = (id: string, mutating: boolean) => scope === 'all' || (scope === 'read-only' ? !mutating : scope.includes(id));
  const unattended: string[] = [];
  const confirmed: string[] = [];
  let gated = false;
  for (const step of runbook.steps) {
    if (step.kind === 'approval' && step.when === undefined) gated = true;
    if (step.kind !== 'call' || gated) continue;
    if (mayRun(step.id, step.mutating)) unattended.push(step.id);
    else confirmed.push(step.id);
  }
  const waits = confirmed.length > 0 ? `; ${confirmed.map((s) => `\`${s}\``).join(', ')} wait${confirmed.length === 1 ? 's' : ''} for a person to confirm (the policy lets only ${describeScope(scope)} steps run unattended)` : '';
  return { allowed: true, rule: ref, unattended, confirmed, reason: `\`${runbook.id}\` may start from PagerDuty; ${unattended.length} step${unattended.length === 1 ? '' : 's'} run before any human${waits}` };
}

function describeScope(scope: 'read-only' | 'all' | readonly string[]): string {
  return typeof scope === 'string' ? scope : scope.map((s) => `\`${s}\``).join(', ');
}

export interface HostDecision {
  readonly allowed: boolean;
  readonly rule: string;
  readonly reason?: string;
}

/** Whether the http executor may call `host` (exact entries, or `*.suffix` for any subdomain). */
export function httpHostAllowed(policy: Policy, host: string): HostDecision {
  const allow = policy.httpAllow;
  if (!allow) return { allowed: true, rule: `${policy.file}: http.allow (not set: every host)` };
  const name = host.toLowerCase().replace(/\.$/, '');
  const rule = formatRuleRef(allow.ref);
  const hit = allow.value.some((p) => (p.startsWith('*.') ? name.endsWith(p.slice(1)) && name.length > p.length - 1 : name === p));
  return hit ? { allowed: true, rule } : { allowed: false, rule, reason: `host ${name} is not in the policy's http.allow (${rule}): allowed are ${allow.value.join(', ') || 'no hosts'}` };
}

/** The escalation ladders runs use where their runbook names none. */
export function slaDefaults(policy: Policy): SlaDefaults {
  return policy.sla;
}

/** The http executor's `allowHost` hook under `policy`; undefined when the policy allows every host. */
export function hostAllowlist(policy: Policy): ((url: URL) => { allowed: boolean; reason?: string }) | undefined {
  if (!policy.httpAllow) return undefined;
  return (url) => {
    const decision = httpHostAllowed(policy, url.hostname);
    // The executor already says the host is refused: the reason adds which rule and what it allows.
    return decision.allowed ? { allowed: true } : { allowed: false, reason: `${decision.rule} allows only ${policy.httpAllow?.value.join(', ') || 'no hosts'}` };
  };
}

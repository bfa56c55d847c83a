/** Policy as code (`policy.yaml`): parse and check it, then decide runs, auto-starts, hosts and SLAs. */
export { BUILT_IN_POLICY_FILE, builtInPolicy, parsePolicy, type ParsedPolicy } from './load.ts';
export { loadPolicy, readPolicyFile, PolicyInvalidError, type LoadedPolicy } from './read.ts';
export { activeFreeze, decideAutoStart, decideRun, hostAllowlist, httpHostAllowed, slaDefaults, type AutoStartDecision, type FreezeStatus, type HostDecision, type RunDecision, type RunOutcome, type RunRequestFacts } from './evaluate.ts';
export type { ApprovalRequirement } from './gates.ts';
export type { BlastRadiusViolation } from './blast-radius.ts';
export type { PolicyPerson } from './match.ts';
export { formatRuleRef, type Policy, type RuleRef, type SlaDefaults } from './types.ts';
export { createStartPolicy } from './engine-hook.ts';

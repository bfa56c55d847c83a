/** Who is in a role and which runbooks a rule is about: the two questions every rule asks. */
import type { Policy, Selector } from './types.ts';

/** The person a decision is about: a Slack user id or `cli:<user>`, and the `@groups` they are in. */
export interface PolicyPerson {
  readonly id: string;
  readonly groups?: readonly string[];
}

/** The facts about a runbook that rules select on. */
export interface RunbookFacts {
  readonly id: string;
  readonly tags: readonly string[];
  readonly environment?: string;
}

/** Whether every selector the rule gives matches the runbook. */
export function selects(selector: Selector, runbook: RunbookFacts): boolean {
  if (selector.runbooks && !selector.runbooks.includes(runbook.id)) return false;
  if (selector.tags && !selector.tags.some((t) => runbook.tags.includes(t))) return false;
  if (selector.environments && (runbook.environment === undefined || !selector.environments.includes(runbook.environment))) return false;
  return true;
}

/** Whether the person is one of `members` (by id, or through a `@group` they are in). */
export function isMember(person: PolicyPerson, members: readonly string[]): boolean {
  const groups = new Set(person.groups ?? []);
  return members.some((m) => m === person.id || (m.startsWith('@') && groups.has(m)));
}

/** Members of the named roles, deduplicated, in the order written. */
export function membersOf(policy: Policy, roles: readonly string[]): string[] {
  return [...new Set(roles.flatMap((r) => policy.roles[r] ?? []))];
}

export function isInRoles(policy: Policy, person: PolicyPerson, roles: readonly string[] | undefined): boolean {
  return roles === undefined || isMember(person, membersOf(policy, roles));
}

/**
 * Which of a gate's user groups a clicker belongs to. A gate names groups by handle
 * (`@ml-oncall-leads`); Slack names them by id, so handles are resolved through `usergroups.list`
 * and members through `usergroups.users.list`, both cached in memory for `ttlMs` (a short TTL: a
 * person removed from a group loses approval rights within a minute). The machine decides
 * eligibility from the groups returned here; this module only reports membership.
 */
import type { BotSlack, UserGroupRef } from './ports.ts';

/** Options of {@link createGroupResolver}. */
export interface GroupResolverOptions {
  readonly slack: Pick<BotSlack, 'userGroups' | 'userGroupMembers'>;
  /** How long a group list or member list is trusted. @default 60000 */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** Resolves group memberships. */
export interface GroupResolver {
  /**
   * The entries of `from` that are group handles (`@…`) and have `userId` as a member, with their
   * `@`. Rejects when Slack cannot be asked: membership must never be guessed.
   */
  groupsOf(userId: string, from: readonly string[]): Promise<string[]>;
}

interface Cached<T> {
  readonly value: Promise<T>;
  readonly atMs: number;
}

/** Creates a resolver with its own cache. */
export function createGroupResolver(options: GroupResolverOptions): GroupResolver {
  const ttlMs = options.ttlMs ?? 60_000;
  const clock = options.clock ?? Date.now;
  let groups: Cached<readonly UserGroupRef[]> | undefined;
  const members = new Map<string, Cached<ReadonlySet<string>>>();

  // Concurrent clicks share one call; a failed call is forgotten at once so the next click retries.
  const cached = <T>(entry: Cached<T> | undefined, load: () => Promise<T>, store: (entry: Cached<T> | undefined) => void): Promise<T> => {
    if (entry && clock() - entry.atMs <= ttlMs) return entry.value;
    const fresh: Cached<T> = { value: load(), atMs: clock() };
    store(fresh);
    fresh.value.catch(() => store(undefined));
    return fresh.value;
  };
  const groupList = () => cached(groups, () => options.slack.userGroups(), (e) => (groups = e));
  const membersOf = (id: string) =>
    cached(members.get(id), async () => new Set(await options.slack.userGroupMembers(id)), (e) => (e ? members.set(id, e) : members.delete(id)));

  return {
    groupsOf: async (userId, from) => {
      const handles = [...new Set(from.filter((entry) => entry.startsWith('@')))];
      if (handles.length === 0) return [];
      const byHandle = new Map((await groupList()).map((g) => [g.handle.toLowerCase(), g.id]));
      const checks = await Promise.all(handles.map(async (handle) => {
        const id = byHandle.get(handle.slice(1).toLowerCase());
        return id !== undefined && (await membersOf(id)).has(userId) ? handle : undefined;
      }));
      return checks.filter((h): h is string => h !== undefined);
    },
  };
}

import { describe, expect, it } from 'vitest';
import { createGroupResolver } from '../../../src/bot/approvers.ts';

function directory() {
  const calls: string[] = [];
  let failing = false;
  const members: Record<string, string[]> = { S1: ['UBOB', 'UCAROL'], S2: ['UDAVE'] };
  return {
    calls,
    members,
    fail: (value: boolean) => (failing = value),
    slack: {
      userGroups: async () => {
        calls.push('usergroups.list');
        if (failing) throw new Error('ratelimited');
        return [{ id: 'S1', handle: 'ml-oncall-leads' }, { id: 'S2', handle: 'sre' }];
      },
      userGroupMembers: async (id: string) => {
        calls.push(`usergroups.users.list ${id}`);
        return members[id] ?? [];
      },
    },
  };
}

describe('createGroupResolver', () => {
  describe('when the gate lists group handles and user ids', () => {
    it('returns the listed groups the user is a member of, with their @', async () => {
      const dir = directory();
      const resolver = createGroupResolver({ slack: dir.slack });
      expect(await resolver.groupsOf('UBOB', ['@ml-oncall-leads', '@sre', 'U024BE7LH'])).toEqual(['@ml-oncall-leads']);
      expect(await resolver.groupsOf('UDAVE', ['@ML-Oncall-Leads', '@sre'])).toEqual(['@sre']);
      expect(await resolver.groupsOf('UEVE', ['@ml-oncall-leads', '@unknown-group'])).toEqual([]);
    });
    it('asks Slack nothing when the gate lists no groups', async () => {
      const dir = directory();
      expect(await createGroupResolver({ slack: dir.slack }).groupsOf('UBOB', ['U024BE7LH'])).toEqual([]);
      expect(dir.calls).toEqual([]);
    });
  });

  describe('when asked again within the TTL', () => {
    it('answers from the cache, and asks again once the TTL has passed', async () => {
      const dir = directory();
      let now = 0;
      const resolver = createGroupResolver({ slack: dir.slack, ttlMs: 60_000, clock: () => now });
      await resolver.groupsOf('UBOB', ['@ml-oncall-leads']);
      await resolver.groupsOf('UCAROL', ['@ml-oncall-leads']);
      expect(dir.calls).toEqual(['usergroups.list', 'usergroups.users.list S1']);
      dir.members['S1'] = ['UCAROL'];
      now = 60_001;
      expect(await resolver.groupsOf('UBOB', ['@ml-oncall-leads'])).toEqual([]);
      expect(dir.calls).toHaveLength(4);
    });
  });

  describe('when Slack fails', () => {
    it('rejects rather than guessing, and does not cache the failure', async () => {
      const dir = directory();
      const resolver = createGroupResolver({ slack: dir.slack });
      dir.fail(true);
      await expect(resolver.groupsOf('UBOB', ['@ml-oncall-leads'])).rejects.toThrow('ratelimited');
      dir.fail(false);
      expect(await resolver.groupsOf('UBOB', ['@ml-oncall-leads'])).toEqual(['@ml-oncall-leads']);
    });
  });
});

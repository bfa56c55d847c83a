import { describe, expect, it } from 'vitest';
import { approverGroups, escalationKind } from '../../../src/observability/transitions.ts';
import { valid } from '../../helpers/runbooks.ts';

const runbook = valid(`---
approval: { from: ["@ml-oncall-leads", "U024BE7LH"], escalation: [{ after: 10m, notify: ["@ml-oncall-leads"] }, { after: 20m, page: { escalation_policy: PABC123 } }] }
---
# Gates

## Approve {#approve}
\`\`\`approve
\`\`\`

## Users only {#users}
\`\`\`approve
from: ["U024BE7LH"]
\`\`\`
`);

describe('approverGroups', () => {
  describe('when a gate names groups and users', () => {
    it('labels by the groups, else by users', () => {
      expect(approverGroups(runbook, 'approve')).toEqual(['@ml-oncall-leads']);
      expect(approverGroups(runbook, 'users')).toEqual(['users']);
    });
  });
});

describe('escalationKind', () => {
  describe('when a timer fires', () => {
    it('says which SLA rung or expiry it was, and nothing for other timers', () => {
      expect(escalationKind(runbook, 'approve.escalate.0')).toBe('notify');
      expect(escalationKind(runbook, 'approve.escalate.1')).toBe('page');
      expect(escalationKind(runbook, 'approve.approval.expiry')).toBe('approval_expiry');
      expect(escalationKind(runbook, 'approve.do.timeout.1')).toBeUndefined();
    });
  });
});

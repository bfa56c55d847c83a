import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEngineError } from '../../../src/engine/errors.ts';
import { createHttpExecutor } from '../../../src/executors/http.ts';
import { createStartPolicy, hostAllowlist, parsePolicy, type Policy } from '../../../src/policy/index.ts';
import { createTestEngine, type TestEngine } from '../../helpers/engine.ts';

/** `YYYY-MM-DD HH:MM` in UTC, `minutes` from now. */
const utc = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString().slice(0, 16).replace('T', ' ');

const POLICY = `roles:
  leads: ["@sre-leads", "ULEAD1", "ULEAD2"]
  interns: ["UINTERN"]
run:
  rules:
    - name: interns-may-not-change
      roles: [interns]
      tags: [changes]
      effect: deny
freeze:
  break_glass: { quorum: 2, from: [leads] }
  windows:
    - name: release-freeze
      timezone: UTC
      from: "${utc(-60)}"
      to: "${utc(60)}"
      environments: [production]
http:
  allow: ["*.ml.internal"]
`;

const CHANGE = `---
id: change-things
owner: "@ml-platform"
environment: production
tags: [changes]
---
# Change things

## Approve {#approve}
\`\`\`approve
quorum: 2
from: ["@sre-leads", "ULEAD1", "ULEAD2"]
\`\`\`

## Change {#change}
\`\`\`record
label: changed
timeout: 10s
\`\`\`
`;

const LOOK = `---
id: look-around
environment: production
---
# Look around

## Look {#look}
\`\`\`fail
times: 0
timeout: 10s
\`\`\`
`;

const CALL_OUT = `---
id: call-out
environment: staging
---
# Call out

## Call {#call}
\`\`\`http
url: https://status.example.com/health
timeout: 10s
\`\`\`
`;

describe('engine with a policy', () => {
  let t: TestEngine;
  let policy: Policy;
  beforeAll(async () => {
    const parsed = parsePolicy(POLICY, 'policy.yaml');
    if (!parsed.policy) throw new Error(JSON.stringify(parsed.diagnostics));
    policy = parsed.policy;
    t = await createTestEngine({ policy: createStartPolicy(policy), extraExecutors: [createHttpExecutor({ allowHost: hostAllowlist(policy) })] });
  });
  afterAll(async () => {
    await t.close();
  });

  const decisions = async () => (await t.audit.list({ type: 'policy.decision' })).map((r) => ({ runId: r.runId, actor: r.actor, data: r.data as Record<string, unknown> }));

  describe('when a run rule denies the requester', () => {
    it('starts nothing and leaves a run-less policy.decision record naming the rule', async () => {
      const before = await t.runtime.engine.store.list();
      const error = await t.runtime.engine.startRun({ file: 'change.md', source: CHANGE, params: {}, requester: { id: 'UINTERN' } }).catch((e: unknown) => e);
      expect(isEngineError(error, 'policy_denied')).toBe(true);
      expect((error as Error).message).toMatch(/rule policy\.yaml:6 interns-may-not-change\); who can help: @ml-platform/);
      expect(await t.runtime.engine.store.list()).toEqual(before);
      expect(await t.state.effects()).toEqual([]);
      const denied = (await decisions()).filter((d) => d.actor === 'UINTERN');
      expect(denied).toEqual([{ runId: undefined, actor: 'UINTERN', data: expect.objectContaining({ outcome: 'deny', rule: 'policy.yaml:6 interns-may-not-change' }) }]);
    });
  });

  describe('when a change freeze is on', () => {
    it('refuses a mutating run, naming the window and the break-glass approvers', async () => {
      const error = await t.runtime.engine.startRun({ file: 'change.md', source: CHANGE, params: {}, requester: { id: 'ULEAD1' } }).catch((e: unknown) => e);
      expect(isEngineError(error, 'policy_denied')).toBe(true);
      expect((error as Error).message).toContain('change freeze `release-freeze` is on');
      expect((error as Error).message).toContain('who can help: @sre-leads, ULEAD1, ULEAD2');
      const record = (await decisions()).find((d) => d.actor === 'ULEAD1' && d.data['outcome'] === 'deny');
      expect(record?.data).toMatchObject({ rule: 'policy.yaml:13 release-freeze', freeze: { window: 'release-freeze' } });
    });

    it('lets a read-only run start and finish, recording the allow with the run', async () => {
      const run = await t.runtime.engine.startRun({ file: 'look.md', source: LOOK, params: {}, requester: { id: 'UINTERN' } });
      expect((await t.settled(run.id)).status).toBe('succeeded');
      const record = (await decisions()).find((d) => d.runId === run.id);
      expect(record).toMatchObject({ actor: 'UINTERN', data: { outcome: 'allow', rule: 'policy.yaml: run.default' } });
    });

    it('lets a break-glass run proceed once two approvers other than the requester approve', async () => {
      const run = await t.runtime.engine.startRun({ file: 'change.md', source: CHANGE, params: {}, requester: { id: 'ULEAD1' }, breakGlass: true });
      await t.waitFor(run.id, (r) => r.snapshot.context.steps['approve']?.status === 'awaiting_approval');
      expect(await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'ULEAD1' } })).toMatchObject({ applied: false, reason: 'self_approval' });
      await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'ULEAD2' } });
      expect((await t.runtime.engine.getRun(run.id))?.snapshot.context.steps['change']?.status).toBe('pending');
      await t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: { id: 'UCAROL', groups: ['@sre-leads'] } });
      expect((await t.settled(run.id)).status).toBe('succeeded');
      expect((await t.state.effects()).map((e) => e.label)).toEqual(['changed']);
      const record = (await decisions()).find((d) => d.runId === run.id);
      expect(record?.data).toMatchObject({ outcome: 'require_approval', rule: 'policy.yaml:11 freeze.break_glass', breakGlass: true, approvalRequirement: { quorum: 2, gates: ['approve'] } });
    });
  });

  describe('when an http step calls a host outside the allowlist', () => {
    it('fails the step with an error naming the host and the policy rule', async () => {
      const run = await t.runtime.engine.startRun({ file: 'call.md', source: CALL_OUT, params: {}, requester: { id: 'ULEAD1' } });
      const done = await t.settled(run.id);
      expect(done.status).toBe('failed');
      const error = done.snapshot.context.steps['call']?.error;
      expect(error?.code).toBe('http_host_not_allowed');
      expect(error?.message).toBe('GET https://status.example.com/health refused: host status.example.com is not on the allowlist: policy.yaml:19 http.allow allows only *.ml.internal');
    });
  });
});

describe('engine with an auto_start policy', () => {
  let t: TestEngine;
  beforeAll(async () => {
    const parsed = parsePolicy('auto_start:\n  rules:\n    - { name: no-unattended-changes, runbooks: [change-things], effect: deny }\n', 'policy.yaml');
    if (!parsed.policy) throw new Error(JSON.stringify(parsed.diagnostics));
    t = await createTestEngine({ policy: createStartPolicy(parsed.policy) });
  });
  afterAll(async () => {
    await t.close();
  });

  describe('when PagerDuty starts a runbook the policy keeps from auto-starting', () => {
    it('starts nothing and records the auto_start rule', async () => {
      const error = await t.runtime.engine.startRun({ file: 'change.md', source: CHANGE, params: {}, requester: { id: 'pagerduty' }, origin: { kind: 'pagerduty', incidentId: 'PINC1' } }).catch((e: unknown) => e);
      expect(isEngineError(error, 'policy_denied')).toBe(true);
      expect((error as Error).message).toContain('rule policy.yaml:3 no-unattended-changes');
      expect(await t.runtime.engine.store.list()).toEqual([]);
      const records = await t.audit.list({ type: 'policy.decision' });
      expect(records.map((r) => [r.actor, (r.data as { outcome: string }).outcome])).toEqual([['pagerduty', 'deny']]);
    });
  });

  describe('when a person starts the same runbook', () => {
    it('is not held to the auto_start rules', async () => {
      const run = await t.runtime.engine.startRun({ file: 'change.md', source: CHANGE, params: {}, requester: { id: 'ULEAD1' } });
      expect(run.status).toBe('active');
      await t.runtime.engine.send(run.id, { type: 'run.cancel', by: { id: 'ULEAD1' } });
      await t.settled(run.id);
    });
  });
});

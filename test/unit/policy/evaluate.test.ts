import { describe, expect, it } from 'vitest';
import { decideAutoStart, decideRun, httpHostAllowed, hostAllowlist, parsePolicy, slaDefaults, type Policy } from '../../../src/policy/index.ts';
import { valid } from '../../helpers/runbooks.ts';

function policy(text: string): Policy {
  const parsed = parsePolicy(text, 'policy.yaml');
  if (!parsed.policy) throw new Error(`policy invalid: ${JSON.stringify(parsed.diagnostics)}`);
  return parsed.policy;
}

const ROLES = `
roles:
  leads: ["@sre-leads", "U0LEAD001", "U0LEAD002"]
  oncall: ["@ml-oncall", "cli:alice"]
`;

/** A runbook with the given front matter extras and steps. */
const runbook = (front: string, body: string) => valid(`---\nid: restart\n${front}\n---\n# Restart\n\n${body}`);

const gate = (quorum: number, from = '["@sre-leads"]') => `## Approve {#approve}\n\`\`\`approve\nquorum: ${quorum}\nfrom: ${from}\n\`\`\`\n\n`;
const ssmStep = (extra = '') => `## Restart {#restart}\n\`\`\`ssm\ndocument: AWS-RunShellScript\ninstance_ids: [i-0a, i-0b, i-0c]\nparameters: { commands: ["systemctl restart model"] }\n${extra}timeout: 5m\n\`\`\`\n\n`;
const readStep = `## Look {#look}\n\`\`\`http\nurl: https://status.ml.internal/health\n\`\`\`\n\n`;

const mutating = runbook('environment: production\ntags: [serving]', readStep + gate(2) + ssmStep('max_concurrency: 1\n'));
const readOnly = runbook('environment: production\ntags: [diagnostics]', readStep);
const alice = { id: 'cli:alice' };
const lead = { id: 'U0LEAD001' };
const NOON = Date.parse('2026-06-10T12:00:00Z'); // a Wednesday

describe('decideRun', () => {
  describe('when the policy is the built-in defaults', () => {
    it('allows the run and names the default rule', () => {
      const decision = decideRun({ policy: policy(''), person: alice, runbook: mutating, params: {}, at: NOON });
      expect(decision).toMatchObject({ outcome: 'allow', rule: 'policy.yaml: run.default', blastRadius: [] });
    });
  });

  describe('when a run rule denies the person', () => {
    const p = policy(`${ROLES}
run:
  rules:
    - name: oncall-may-not-restart
      runbooks: [restart]
      roles: [oncall]
      effect: deny
    - name: leads-restart
      runbooks: [restart]
      roles: [leads]
      effect: allow
`);
    it('denies with the rule line and names who can run it', () => {
      const decision = decideRun({ policy: p, person: alice, runbook: mutating, params: {}, at: NOON });
      expect(decision.outcome).toBe('deny');
      expect(decision.rule).toBe('policy.yaml:8 oncall-may-not-restart');
      expect(decision.helpers).toEqual(['@sre-leads', 'U0LEAD001', 'U0LEAD002']);
    });
    it('lets a member of an allowed group through the first matching rule', () => {
      const decision = decideRun({ policy: p, person: { id: 'U0SOMEONE', groups: ['@sre-leads'] }, runbook: mutating, params: {}, at: NOON });
      expect(decision).toMatchObject({ outcome: 'allow', rule: 'policy.yaml:12 leads-restart' });
    });
  });

  describe('when no run rule matches and the default is deny', () => {
    it('denies by the default and says no rule allows it', () => {
      const decision = decideRun({ policy: policy(`run:\n  default: deny\n  rules:\n    - { name: other, runbooks: [other], effect: allow }\n`), person: alice, runbook: readOnly, params: {}, at: NOON });
      expect(decision).toMatchObject({ outcome: 'deny', rule: 'policy.yaml:2 run.default' });
      expect(decision.reason).toContain('no rule allows it');
    });
  });

  describe('when run rules select by tag and environment', () => {
    const p = policy(`run:\n  rules:\n    - { name: no-prod-serving, tags: [serving], environments: [production], effect: deny }\n`);
    it('matches only runbooks with both', () => {
      expect(decideRun({ policy: p, person: alice, runbook: mutating, params: {}, at: NOON }).outcome).toBe('deny');
      expect(decideRun({ policy: p, person: alice, runbook: readOnly, params: {}, at: NOON }).outcome).toBe('allow');
      const staging = runbook('environment: staging\ntags: [serving]', readStep);
      expect(decideRun({ policy: p, person: alice, runbook: staging, params: {}, at: NOON }).outcome).toBe('allow');
    });
  });

  describe('when an approval rule covers mutating runs', () => {
    const p = policy(`${ROLES}
approval:
  rules:
    - { name: prod-mutating, environments: [production], risk: mutating, quorum: 2, from: [leads] }
`);
    it('requires approval collected at the runbook gate that meets it', () => {
      const decision = decideRun({ policy: p, person: alice, runbook: mutating, params: {}, at: NOON });
      expect(decision.outcome).toBe('require_approval');
      expect(decision.rule).toBe('policy.yaml:8 prod-mutating');
      expect(decision.approvalRequirement).toMatchObject({ quorum: 2, roles: ['leads'], excludeRequester: true, gates: ['approve'] });
    });
    it('leaves read-only runs alone', () => {
      expect(decideRun({ policy: p, person: alice, runbook: readOnly, params: {}, at: NOON }).outcome).toBe('allow');
    });
    it('denies a runbook whose gate asks for fewer approvals, saying what is missing', () => {
      const weak = runbook('environment: production', gate(1) + ssmStep('max_concurrency: 1\n'));
      const decision = decideRun({ policy: p, person: alice, runbook: weak, params: {}, at: NOON });
      expect(decision.outcome).toBe('deny');
      expect(decision.reason).toContain('step `restart`: gate `approve` asks for 1 approval, the policy needs 2');
      expect(decision.helpers).toContain('@sre-leads');
    });
    it('denies a gate naming approvers outside the roles', () => {
      const outside = runbook('environment: production', gate(2, '["@everyone"]') + ssmStep());
      expect(decideRun({ policy: p, person: alice, runbook: outside, params: {}, at: NOON }).reason).toContain('names approvers outside role `leads`: @everyone');
    });
    it('denies a mutating step with no gate before it', () => {
      const ungated = runbook('environment: production', ssmStep() + gate(2));
      expect(decideRun({ policy: p, person: alice, runbook: ungated, params: {}, at: NOON }).reason).toContain('step `restart`: no approval gate comes before it');
    });
  });

  describe('when a change freeze is on', () => {
    const p = policy(`${ROLES}
freeze:
  break_glass: { quorum: 2, from: [leads] }
  windows:
    - name: year-end
      timezone: Europe/Berlin
      from: "2026-12-24 00:00"
      to: "2027-01-02 00:00"
      environments: [production]
`);
    const inFreeze = Date.parse('2026-12-24T10:00:00Z');
    it('refuses a mutating run, naming the window and the break-glass approvers', () => {
      const decision = decideRun({ policy: p, person: alice, runbook: mutating, params: {}, at: inFreeze });
      expect(decision).toMatchObject({ outcome: 'deny', rule: 'policy.yaml:9 year-end', freeze: { window: 'year-end', timezone: 'Europe/Berlin' } });
      expect(decision.reason).toContain('break-glass');
      expect(decision.helpers).toEqual(['@sre-leads', 'U0LEAD001', 'U0LEAD002']);
    });
    it('lets a read-only run through', () => {
      expect(decideRun({ policy: p, person: alice, runbook: readOnly, params: {}, at: inFreeze }).outcome).toBe('allow');
    });
    it('asks a break-glass run for two approvers other than the requester', () => {
      const decision = decideRun({ policy: p, person: alice, runbook: mutating, params: {}, at: inFreeze, breakGlass: true });
      expect(decision.outcome).toBe('require_approval');
      expect(decision.rule).toBe('policy.yaml:7 freeze.break_glass');
      expect(decision.approvalRequirement).toMatchObject({ quorum: 2, excludeRequester: true, gates: ['approve'] });
    });
    it('still refuses a break-glass run whose gate asks for one approver', () => {
      const weak = runbook('environment: production', gate(1) + ssmStep());
      expect(decideRun({ policy: p, person: alice, runbook: weak, params: {}, at: inFreeze, breakGlass: true }).outcome).toBe('deny');
    });
    it('is off one minute before local midnight', () => {
      expect(decideRun({ policy: p, person: alice, runbook: mutating, params: {}, at: Date.parse('2026-12-23T22:59:00Z') }).outcome).toBe('allow');
    });
    it('ignores runbooks of other environments', () => {
      const staging = runbook('environment: staging', gate(2) + ssmStep());
      expect(decideRun({ policy: p, person: alice, runbook: staging, params: {}, at: inFreeze }).outcome).toBe('allow');
    });
  });

  describe('when blast-radius limits are set', () => {
    it('denies more SSM targets than allowed', () => {
      const decision = decideRun({ policy: policy('limits: { ssm_max_targets: 2 }'), person: lead, runbook: mutating, params: {}, at: NOON });
      expect(decision).toMatchObject({ outcome: 'deny', rule: 'policy.yaml:1 limits.ssm_max_targets' });
      expect(decision.blastRadius).toEqual([expect.objectContaining({ stepId: 'restart', limit: 'ssm_max_targets', max: 2, found: 3 })]);
    });
    it('counts SSM\'s default concurrency of 50 when a step sets none', () => {
      const unset = runbook('', ssmStep());
      const decision = decideRun({ policy: policy('limits: { ssm_max_concurrency: 10 }'), person: lead, runbook: unset, params: {}, at: NOON });
      expect(decision.blastRadius[0]?.message).toContain("SSM's default of 50");
    });
    it('compares a percentage limit with a count over known targets', () => {
      const p = policy('limits: { ssm_max_concurrency: "50%" }');
      const one = runbook('', ssmStep('max_concurrency: 1\n'));
      const three = runbook('', ssmStep('max_concurrency: 3\n'));
      expect(decideRun({ policy: p, person: lead, runbook: one, params: {}, at: NOON }).outcome).toBe('allow');
      expect(decideRun({ policy: p, person: lead, runbook: three, params: {}, at: NOON }).blastRadius[0]?.message).toContain('3 of 3 targets');
    });
    it('denies backfill parallelism above the limit, resolved from params', () => {
      const backfill = valid(`---\nid: backfill\nparams:\n  width: { type: number, default: 16 }\n---\n# Backfill\n\n## Fill {#fill}\n\`\`\`backfill\ndataset: features\nfrom: "2026-01-01"\nto: "2026-01-03"\npartition: day\nparallelism: "{{ params.width }}"\ncall:\n  executor: http\n  method: POST\n  url: "https://jobs.ml.internal/fill?p={{ partition }}"\ntimeout: 1h\n\`\`\`\n`);
      const p = policy('limits: { backfill_max_parallelism: 8 }');
      expect(decideRun({ policy: p, person: lead, runbook: backfill, params: { width: 16 }, at: NOON }).blastRadius).toEqual([expect.objectContaining({ limit: 'backfill_max_parallelism', found: 16, max: 8 })]);
      expect(decideRun({ policy: p, person: lead, runbook: backfill, params: { width: 4 }, at: NOON }).outcome).toBe('allow');
    });
  });
});

describe('decideAutoStart', () => {
  describe('when no rule matches and the default allows', () => {
    it('lets read-only steps run unattended and holds an ungated mutating step for a person', () => {
      const p = policy('');
      expect(decideAutoStart({ policy: p, runbook: readOnly })).toMatchObject({ allowed: true, unattended: ['look'], confirmed: [] });
      const ungated = runbook('', readStep + ssmStep());
      const decision = decideAutoStart({ policy: p, runbook: ungated });
      expect(decision).toMatchObject({ allowed: true, unattended: ['look'], confirmed: ['restart'] });
      expect(decision.reason).toContain('`restart` waits for a person to confirm');
      expect(decideAutoStart({ policy: p, runbook: mutating })).toMatchObject({ allowed: true, unattended: ['look'] });
    });
  });
  describe('when a rule denies the runbook', () => {
    it('refuses with the rule', () => {
      const p = policy('auto_start:\n  rules:\n    - { name: never-restart, runbooks: [restart], effect: deny }\n');
      expect(decideAutoStart({ policy: p, runbook: readOnly })).toMatchObject({ allowed: false, rule: 'policy.yaml:3 never-restart' });
    });
  });
  describe('when a rule lets named steps run', () => {
    it('lets them run unattended', () => {
      const p = policy('auto_start:\n  default: deny\n  rules:\n    - { name: restart-ok, runbooks: [restart], steps: [look, restart] }\n');
      expect(decideAutoStart({ policy: p, runbook: runbook('', readStep + ssmStep()) })).toMatchObject({ allowed: true, unattended: ['look', 'restart'] });
    });
  });
});

describe('httpHostAllowed', () => {
  const p = policy('http:\n  allow: ["api.example.com", "*.ml.internal"]\n');
  describe('when the allowlist is set', () => {
    it('allows exact hosts and subdomains of a wildcard, case-insensitively', () => {
      expect(httpHostAllowed(p, 'API.example.com').allowed).toBe(true);
      expect(httpHostAllowed(p, 'status.ml.internal').allowed).toBe(true);
      expect(httpHostAllowed(p, 'a.b.ml.internal').allowed).toBe(true);
    });
    it('refuses the wildcard apex, look-alikes and other hosts, naming the rule', () => {
      expect(httpHostAllowed(p, 'ml.internal').allowed).toBe(false);
      expect(httpHostAllowed(p, 'evilml.internal').allowed).toBe(false);
      const refused = httpHostAllowed(p, 'api.example.com.evil.net');
      expect(refused).toMatchObject({ allowed: false, rule: 'policy.yaml:2 http.allow' });
      expect(refused.reason).toContain('not in the policy\'s http.allow');
    });
    it('gives the http executor a hook that reads the URL host', () => {
      expect(hostAllowlist(p)?.(new URL('https://evil.net:8443/x'))).toMatchObject({ allowed: false });
    });
  });
  describe('when the allowlist is not set', () => {
    it('allows every host and gives no hook', () => {
      expect(httpHostAllowed(policy(''), 'anything.example').allowed).toBe(true);
      expect(hostAllowlist(policy(''))).toBeUndefined();
    });
  });
});

describe('slaDefaults', () => {
  describe('when the policy sets ladders', () => {
    it('returns them in the runbook rung format, in milliseconds', () => {
      const p = policy('sla:\n  approval: [{ after: 10m, notify: ["@leads"] }]\n  incident_ack: [{ after: 5m, page: { escalation_policy: PABC123 } }]\n');
      expect(slaDefaults(p)).toEqual({ approval: [{ afterMs: 600_000, notify: ['@leads'] }], manual: [], incidentAck: [{ afterMs: 300_000, page: { escalationPolicy: 'PABC123' } }] });
    });
  });
});

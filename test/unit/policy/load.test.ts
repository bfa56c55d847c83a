import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../../src/machines/diagnostics.ts';
import { builtInPolicy, parsePolicy } from '../../../src/policy/index.ts';

const fixture = (name: string) => parsePolicy(readFileSync(new URL(`../../fixtures/policy/${name}`, import.meta.url), 'utf8'), `policy/${name}`);
const lines = (name: string) => fixture(name).diagnostics.map(formatDiagnostic);

describe('parsePolicy', () => {
  describe('when the policy is the shipped example', () => {
    const parsed = parsePolicy(readFileSync(new URL('../../../policy.example.yaml', import.meta.url), 'utf8'), 'policy.example.yaml');
    it('has no problems and remembers where each rule is written', () => {
      expect(parsed.diagnostics).toEqual([]);
      expect(parsed.policy?.run.rules.map((r) => `${r.ref.line} ${r.ref.name}`)).toEqual(['14 interns-no-changes', '18 prod-changes-by-oncall', '23 prod-changes-others']);
      expect(parsed.policy?.sla.approval.map((r) => r.afterMs)).toEqual([600_000, 1_800_000]);
    });
  });

  describe('when a rule names a role that is not defined', () => {
    it('reports it at the role, listing the roles there are', () => {
      expect(lines('unknown-role.yaml')).toEqual(['policy/unknown-role.yaml:6:22 error [unknown-role] role `nobody` is not defined under `roles:` (expected one of the roles `leads`; found "nobody")']);
    });
  });

  describe('when two rules share a name', () => {
    it('reports the second one', () => {
      expect(lines('duplicate-rule-name.yaml')).toEqual([expect.stringMatching(/^policy\/duplicate-rule-name\.yaml:5:13 error \[duplicate-rule-name\] `same` names two entries of `run\.rules`/)]);
    });
  });

  describe('when a freeze window has an unknown time zone', () => {
    it('reports the zone with an example of a valid one', () => {
      expect(lines('invalid-time-zone.yaml')).toEqual([expect.stringMatching(/:4:17 error \[invalid-time-zone\] .*expected an IANA time zone such as `Europe\/Berlin`.*found "Mars\/Olympus"/)]);
    });
  });

  describe('when a freeze window ends before it starts', () => {
    it('reports its end', () => {
      expect(lines('freeze-ends-before-start.yaml')).toEqual([expect.stringMatching(/:6:11 error \[invalid-freeze-time\] freeze window `backwards` ends before it starts \(expected a `to` after 2026-12-24T00:00; found "2026-12-20"\)/)]);
    });
  });

  describe('when a weekly window has a time that is not one', () => {
    it('reports the bad end with the expected form', () => {
      expect(lines('freeze-bad-weekly-time.yaml')).toEqual([expect.stringMatching(/:5:40 error \[invalid-freeze-time\] .*`weekly\.to`.*"fri 17:00".*found "someday"/)]);
    });
  });

  describe('when an approval quorum is larger than the people who may approve', () => {
    it('reports the quorum', () => {
      expect(lines('quorum-unreachable.yaml')).toEqual([expect.stringMatching(/:6:15 error \[quorum-unreachable\] approval rule `two-leads` asks for 2 approvers but its roles name only 1 person/)]);
    });
  });

  describe('when values do not fit the schema', () => {
    it('reports every one with where, expected and found', () => {
      expect(lines('schema-errors.yaml')).toEqual([
        expect.stringMatching(/^policy\/schema-errors\.yaml:2:12 error \[policy-schema\] `run\.default`.*found "maybe"/),
        expect.stringMatching(/:4:20 error \[policy-schema\] `limits\.ssm_max_targets`.*found -1/),
        expect.stringMatching(/:6:11 error \[policy-schema\] `http\.allow\.0`.*found "https:\/\/api\.example\.com"/),
        expect.stringMatching(/:7:1 error \[policy-schema\] unknown key `unknown_section`.*expected one of `version`, `roles`/),
      ]);
    });
  });

  describe('when the file has problems of many kinds', () => {
    it('reports schema problems and the named rules of the valid sections together, in file order', () => {
      const found = fixture('every-problem.yaml').diagnostics;
      expect(found.map((d) => `${d.location.line} ${d.code}`)).toEqual([
        '3 empty-role', '5 policy-schema', '15 quorum-unreachable', '20 invalid-time-zone', '22 invalid-freeze-time', '25 invalid-freeze-time', '27 policy-schema', '29 policy-schema', '30 policy-schema',
      ]);
      expect(fixture('every-problem.yaml').policy).toBeUndefined();
    });
  });

  describe('when the file is not YAML', () => {
    it('reports syntax errors instead of throwing', () => {
      const parsed = fixture('not-yaml.yaml');
      expect(parsed.policy).toBeUndefined();
      expect(parsed.diagnostics[0]).toMatchObject({ code: 'yaml-syntax', location: { file: 'policy/not-yaml.yaml', line: 1 } });
    });
  });

  describe('when the file is empty', () => {
    it('is the built-in defaults', () => {
      expect(parsePolicy('', 'policy.yaml').policy?.run.default).toBe('allow');
    });
  });

  describe('when there is no file', () => {
    it('allows every run, every host, and names itself', () => {
      const policy = builtInPolicy();
      expect(policy).toMatchObject({ isBuiltIn: true, file: 'built-in defaults', run: { default: 'allow', rules: [] }, freeze: { windows: [] }, limits: {} });
      expect(policy.httpAllow).toBeUndefined();
    });
  });
});

/**
 * The named checks `policy.yaml` passes after its schema: each looks at the parsed document and
 * reports every problem it finds, pointing at the YAML that caused it.
 */
import type { Diagnostic } from '../machines/diagnostics.ts';
import { describeFound } from '../machines/diagnostics.ts';
import type { YamlPath, YamlSource } from '../machines/yaml-source.ts';
import type { PolicyDocument } from './schema.ts';
import { isTimeZone, parseLocalDateTime, parseWeeklyTime } from './time.ts';

export interface PolicyRule {
  readonly code: string;
  /** Top-level sections the rule reads: it is skipped when one of them failed the schema. */
  readonly reads: readonly string[];
  check(doc: PolicyDocument, report: Reporter): void;
}

export type Reporter = (path: YamlPath, problem: { message: string; expected?: string; found?: unknown; severity?: 'error' | 'warning' }) => void;

const unknownRole: PolicyRule = {
  code: 'unknown-role',
  reads: ['roles', 'run', 'approval', 'freeze'],
  check(doc, report) {
    const known = Object.keys(doc.roles);
    const expected = known.length > 0 ? `one of the roles ${known.map((r) => `\`${r}\``).join(', ')}` : 'a role defined under `roles:`';
    const check = (names: readonly string[] | undefined, base: YamlPath) =>
      names?.forEach((name, i) => {
        if (!Object.hasOwn(doc.roles, name)) report([...base, i], { message: `role \`${name}\` is not defined under \`roles:\``, expected, found: name });
      });
    doc.run.rules.forEach((rule, i) => check(rule.roles, ['run', 'rules', i, 'roles']));
    doc.approval.rules.forEach((rule, i) => check(rule.from, ['approval', 'rules', i, 'from']));
    check(doc.freeze.break_glass.from, ['freeze', 'break_glass', 'from']);
  },
};

const duplicateRuleName: PolicyRule = {
  code: 'duplicate-rule-name',
  reads: ['run', 'approval', 'auto_start', 'freeze'],
  check(doc, report) {
    const lists: [YamlPath, readonly { name: string }[]][] = [
      [['run', 'rules'], doc.run.rules],
      [['approval', 'rules'], doc.approval.rules],
      [['auto_start', 'rules'], doc.auto_start.rules],
      [['freeze', 'windows'], doc.freeze.windows],
    ];
    for (const [base, items] of lists) {
      const seen = new Set<string>();
      items.forEach((item, i) => {
        if (seen.has(item.name)) report([...base, i, 'name'], { message: `\`${item.name}\` names two entries of \`${base.join('.')}\`: decisions name rules, so names must be unique`, expected: 'a unique name', found: item.name });
        seen.add(item.name);
      });
    }
  },
};

const freezeTimeZone: PolicyRule = {
  code: 'invalid-time-zone',
  reads: ['freeze'],
  check(doc, report) {
    doc.freeze.windows.forEach((w, i) => {
      if (!isTimeZone(w.timezone)) report(['freeze', 'windows', i, 'timezone'], { message: `freeze window \`${w.name}\` has an unknown time zone`, expected: 'an IANA time zone such as `Europe/Berlin` or `UTC`', found: w.timezone });
    });
  },
};

const freezeTimes: PolicyRule = {
  code: 'invalid-freeze-time',
  reads: ['freeze'],
  check(doc, report) {
    doc.freeze.windows.forEach((w, i) => {
      const base: YamlPath = ['freeze', 'windows', i];
      if (w.weekly) {
        const from = parseWeeklyTime(w.weekly.from);
        const to = parseWeeklyTime(w.weekly.to);
        for (const [key, value, parsed] of [['from', w.weekly.from, from], ['to', w.weekly.to, to]] as const) {
          if (parsed === undefined) report([...base, 'weekly', key], { message: `freeze window \`${w.name}\`: \`weekly.${key}\` is not a weekday and time`, expected: 'a weekday and local time such as "fri 17:00"', found: value });
        }
        if (from !== undefined && from === to) report([...base, 'weekly'], { message: `freeze window \`${w.name}\` starts and ends at the same time, so it is never (or always) on`, expected: 'different `from` and `to`', found: `${w.weekly.from} – ${w.weekly.to}` });
        return;
      }
      const from = parseLocalDateTime(w.from ?? '');
      const to = parseLocalDateTime(w.to ?? '');
      for (const [key, value, parsed] of [['from', w.from, from], ['to', w.to, to]] as const) {
        if (parsed === undefined) report([...base, key], { message: `freeze window \`${w.name}\`: \`${key}\` is not a local date and time`, expected: 'a local date-time such as "2026-12-24 00:00" (in the window\'s `timezone`)', found: value });
      }
      if (from !== undefined && to !== undefined && from >= to) report([...base, 'to'], { message: `freeze window \`${w.name}\` ends before it starts`, expected: `a \`to\` after ${from}`, found: w.to });
    });
  },
};

const quorumReachable: PolicyRule = {
  code: 'quorum-unreachable',
  reads: ['roles', 'approval', 'freeze'],
  check(doc, report) {
    const check = (quorum: number, roles: readonly string[] | undefined, path: YamlPath, what: string) => {
      if (!roles) return;
      const members = new Set(roles.flatMap((r) => doc.roles[r] ?? []));
      // A user group can hold any number of people: only a list of individuals has a known size.
      if ([...members].some((m) => m.startsWith('@'))) return;
      if (members.size < quorum) report(path, { severity: 'error', message: `${what} asks for ${quorum} approvers but its roles name only ${members.size} ${members.size === 1 ? "person" : "people"}`, expected: `at most ${members.size}, or more people in ${roles.map((r) => `\`${r}\``).join(', ')}`, found: quorum });
    };
    doc.approval.rules.forEach((rule, i) => check(rule.quorum, rule.from, ['approval', 'rules', i, 'quorum'], `approval rule \`${rule.name}\``));
    check(doc.freeze.break_glass.quorum, doc.freeze.break_glass.from, ['freeze', 'break_glass', 'quorum'], 'break-glass');
  },
};

const emptyRole: PolicyRule = {
  code: 'empty-role',
  reads: ['roles'],
  check(doc, report) {
    for (const [name, members] of Object.entries(doc.roles)) {
      if (members.length === 0) report(['roles', name], { severity: 'warning', message: `role \`${name}\` has no members: rules naming it match nobody`, expected: 'Slack user ids, @groups or cli:<user>', found: [] });
    }
  },
};

/** Every named rule, in the order their reports read best. */
export const POLICY_RULES: readonly PolicyRule[] = [unknownRole, duplicateRuleName, freezeTimeZone, freezeTimes, quorumReachable, emptyRole];

/** Runs every rule whose sections passed the schema. */
export function checkPolicyRules(doc: PolicyDocument, yaml: YamlSource, invalidSections: ReadonlySet<string>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const rule of POLICY_RULES) {
    if (rule.reads.some((section) => invalidSections.has(section))) continue;
    rule.check(doc, (path, problem) =>
      out.push({
        severity: problem.severity ?? 'error',
        code: rule.code,
        message: problem.message,
        location: yaml.locate(path),
        ...(problem.expected !== undefined ? { expected: problem.expected } : {}),
        ...('found' in problem ? { found: describeFound(problem.found) } : {}),
      }),
    );
  }
  return out;
}

/**
 * Reads `policy.yaml`: YAML with positions, the schema, then the named rules; every problem comes
 * back at once as a `file:line:col` diagnostic. A valid document compiles into a {@link Policy}
 * whose rules remember the line they are written on.
 */
import { hasErrors, sortDiagnostics, type Diagnostic } from '../machines/diagnostics.ts';
import type { EscalationRung } from '../machines/ir.ts';
import { diagnosticsFromZod } from '../machines/schema-diagnostics.ts';
import { parseYamlSource, type YamlPath, type YamlSource } from '../machines/yaml-source.ts';
import { checkPolicyRules } from './rules.ts';
import { policySchema, type PolicyDocument } from './schema.ts';
import { parseLocalDateTime, parseWeeklyTime } from './time.ts';
import type { FreezeSchedule, Policy, RuleRef, Selector } from './types.ts';

/** What a policy without a file is called in decisions. */
export const BUILT_IN_POLICY_FILE = 'built-in defaults';

/** Largest policy file read; anything bigger is a mistake, not a policy. */
export const MAX_POLICY_BYTES = 1_000_000;

export interface ParsedPolicy {
  /** Present when there are no errors (warnings may remain). */
  readonly policy?: Policy;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parses and validates policy text; `file` is how diagnostics and decisions name it. */
export function parsePolicy(text: string, file: string): ParsedPolicy {
  if (text.length > MAX_POLICY_BYTES) {
    return { diagnostics: [{ severity: 'error', code: 'policy-too-large', message: 'the policy file is too large', location: { file, line: 1, column: 1 }, expected: `at most ${MAX_POLICY_BYTES} characters`, found: `${text.length} characters` }] };
  }
  const yaml = parseYamlSource(text, { file, line: 1, column: 1 }, 'the policy');
  if (hasErrors(yaml.diagnostics)) return { diagnostics: yaml.diagnostics };
  const value = yaml.value ?? {};
  const parsed = policySchema.safeParse(value);
  if (!parsed.success) {
    const schemaProblems = diagnosticsFromZod(parsed.error, { yaml, base: [], value, subject: 'the policy', code: 'policy-schema', schema: policySchema });
    // The named rules still check the sections that are valid, so one run reports every problem.
    const partial = validSections(value);
    const ruleProblems = partial ? checkPolicyRules(partial.doc, yaml, partial.invalid) : [];
    return { diagnostics: sortDiagnostics([...schemaProblems, ...ruleProblems]) };
  }
  const diagnostics = sortDiagnostics(checkPolicyRules(parsed.data, yaml, new Set()));
  if (hasErrors(diagnostics)) return { diagnostics };
  return { policy: compilePolicy(parsed.data, file, yaml), diagnostics };
}

/** The document with each invalid top-level section replaced by its default, and which were invalid. */
function validSections(value: unknown): { doc: PolicyDocument; invalid: ReadonlySet<string> } | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const invalid = new Set<string>();
  const doc: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(policySchema.shape)) {
    const section = schema.safeParse((value as Record<string, unknown>)[key]);
    if (section.success) doc[key] = section.data;
    else {
      invalid.add(key);
      doc[key] = schema.parse(undefined);
    }
  }
  return { doc: doc as PolicyDocument, invalid };
}

/** The policy used when there is no policy file: today's behaviour, every run allowed, no limits. */
export function builtInPolicy(): Policy {
  const parsed = policySchema.parse({});
  return compilePolicy(parsed, BUILT_IN_POLICY_FILE, undefined);
}

function compilePolicy(doc: PolicyDocument, file: string, yaml: YamlSource | undefined): Policy {
  // A rule that is not written (a default) has no line: decisions then name the file and the key.
  const ref = (path: YamlPath, name: string): RuleRef => ({ name, file, line: yaml && isWritten(yaml.value, path) ? yaml.locate(path).line : 0 });
  const selector = (s: { runbooks?: string[]; tags?: string[]; environments?: string[] }): Selector => ({
    ...(s.runbooks ? { runbooks: s.runbooks } : {}),
    ...(s.tags ? { tags: s.tags } : {}),
    ...(s.environments ? { environments: s.environments } : {}),
  });
  const limit = <T>(key: keyof PolicyDocument['limits'], value: T | undefined) =>
    value === undefined ? {} : { value, ref: ref(['limits', key], `limits.${key}`) };
  return {
    file,
    isBuiltIn: yaml === undefined,
    roles: doc.roles,
    run: {
      default: doc.run.default,
      defaultRef: ref(['run', 'default'], 'run.default'),
      rules: doc.run.rules.map((r, i) => ({ ...selector(r), ref: ref(['run', 'rules', i], r.name), effect: r.effect, ...(r.roles ? { roles: r.roles } : {}) })),
    },
    approval: doc.approval.rules.map((r, i) => ({
      ...selector(r),
      ref: ref(['approval', 'rules', i], r.name),
      risk: r.risk,
      quorum: r.quorum,
      ...(r.from ? { from: r.from } : {}),
      // Requester exclusion is on for mutating steps unless a rule turns it off.
      excludeRequester: r.exclude_requester ?? r.risk !== 'read-only',
    })),
    autoStart: {
      default: doc.auto_start.default,
      defaultRef: ref(['auto_start', 'default'], 'auto_start.default'),
      rules: doc.auto_start.rules.map((r, i) => ({ ...selector(r), ref: ref(['auto_start', 'rules', i], r.name), effect: r.effect, steps: r.steps })),
    },
    freeze: {
      breakGlass: { ref: ref(['freeze', 'break_glass'], 'freeze.break_glass'), quorum: doc.freeze.break_glass.quorum, ...(doc.freeze.break_glass.from ? { from: doc.freeze.break_glass.from } : {}) },
      windows: doc.freeze.windows.map((w, i) => ({
        ref: ref(['freeze', 'windows', i], w.name),
        timezone: w.timezone,
        ...(w.environments ? { environments: w.environments } : {}),
        schedule: scheduleOf(w),
      })),
    },
    limits: {
      ...(doc.limits.ssm_max_targets !== undefined ? { ssmMaxTargets: limit('ssm_max_targets', doc.limits.ssm_max_targets) as { value: number; ref: RuleRef } } : {}),
      ...(doc.limits.ssm_max_concurrency !== undefined ? { ssmMaxConcurrency: limit('ssm_max_concurrency', doc.limits.ssm_max_concurrency) as { value: number | string; ref: RuleRef } } : {}),
      ...(doc.limits.backfill_max_parallelism !== undefined ? { backfillMaxParallelism: limit('backfill_max_parallelism', doc.limits.backfill_max_parallelism) as { value: number; ref: RuleRef } } : {}),
    },
    ...(doc.http.allow ? { httpAllow: { value: doc.http.allow.map((h) => h.toLowerCase()), ref: ref(['http', 'allow'], 'http.allow') } } : {}),
    sla: {
      approval: ladder(doc.sla.approval),
      manual: ladder(doc.sla.manual),
      incidentAck: ladder(doc.sla.incident_ack),
    },
  };
}

function isWritten(value: unknown, path: YamlPath): boolean {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, segment)) return false;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return true;
}

function scheduleOf(w: PolicyDocument['freeze']['windows'][number]): FreezeSchedule {
  if (w.weekly) {
    return { kind: 'weekly', fromMinute: parseWeeklyTime(w.weekly.from) ?? 0, toMinute: parseWeeklyTime(w.weekly.to) ?? 0, text: `${w.weekly.from} – ${w.weekly.to}` };
  }
  return { kind: 'absolute', from: parseLocalDateTime(w.from ?? '') ?? '', to: parseLocalDateTime(w.to ?? '') ?? '' };
}

type RungInput = NonNullable<PolicyDocument['sla']['approval']>[number];

function ladder(rungs: readonly RungInput[] | undefined): EscalationRung[] {
  return (rungs ?? []).map((r) => ({
    afterMs: r.after,
    ...(r.notify ? { notify: r.notify } : {}),
    ...(r.page ? { page: { ...(r.page.escalation_policy ? { escalationPolicy: r.page.escalation_policy } : {}), ...(r.page.service ? { service: r.page.service } : {}) } } : {}),
  }));
}

/**
 * Params as they arrive (strings from Slack or the CLI, values from a PagerDuty match) → typed
 * values a run can use, or one clear problem per param: which param, what was expected, what came.
 */
import { describeFound } from './diagnostics.ts';
import { parseDuration } from './durations.ts';
import type { ParamSpec, Runbook } from './ir.ts';

/** Longest value a param may have: params end up in URLs, argv and Slack messages. */
export const MAX_PARAM_LENGTH = 1_000;

export interface ParamProblem {
  readonly param: string;
  readonly code: 'param_missing' | 'param_invalid' | 'param_unknown';
  readonly message: string;
}

export type ParamResult =
  | { readonly ok: true; readonly values: Readonly<Record<string, string | number | boolean>> }
  | { readonly ok: false; readonly problems: readonly ParamProblem[] };

/** Validates and coerces raw values against the runbook's declared params; reports every problem. */
export function resolveParams(runbook: Runbook, raw: Readonly<Record<string, unknown>>): ParamResult {
  const problems: ParamProblem[] = [];
  const values: Record<string, string | number | boolean> = {};
  const declared = new Set(runbook.params.map((p) => p.name));
  for (const name of Object.keys(raw)) {
    if (!declared.has(name)) {
      problems.push({
        param: name,
        code: 'param_unknown',
        message: `unknown param \`${name}\` for runbook \`${runbook.id}\` (expected one of: ${[...declared].join(', ') || 'no params'})`,
      });
    }
  }
  for (const spec of runbook.params) {
    const given = raw[spec.name];
    if (given === undefined || given === '') {
      if (spec.default !== undefined) values[spec.name] = spec.default;
      else if (spec.required) {
        problems.push({ param: spec.name, code: 'param_missing', message: `missing required param \`${spec.name}\`${describeSpec(spec)}` });
      }
      continue;
    }
    const coerced = coerceParam(spec, given);
    if (coerced.ok) values[spec.name] = coerced.value;
    else problems.push({ param: spec.name, code: 'param_invalid', message: coerced.message });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, values };
}

function describeSpec(spec: ParamSpec): string {
  const parts = [spec.type === 'enum' && spec.values ? `one of ${spec.values.join(', ')}` : spec.type];
  if (spec.pattern) parts.push(`matching ${spec.pattern}`);
  return ` (${parts.join(', ')}${spec.description ? `: ${spec.description}` : ''})`;
}

type Coerced = { ok: true; value: string | number | boolean } | { ok: false; message: string };

function coerceParam(spec: ParamSpec, given: unknown): Coerced {
  const shown = spec.secret ? '(secret, not shown)' : describeFound(given);
  const fail = (expected: string): Coerced => ({ ok: false, message: `param \`${spec.name}\` must be ${expected}; got ${shown}` });
  if (typeof given !== 'string' && typeof given !== 'number' && typeof given !== 'boolean') return fail('a single value');
  const text = String(given);
  if (text.length > MAX_PARAM_LENGTH) return fail(`at most ${MAX_PARAM_LENGTH} characters`);
  switch (spec.type) {
    case 'number': {
      const value = typeof given === 'number' ? given : /^-?\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
      return Number.isFinite(value) ? checkPattern(spec, value, shown) : fail('a number');
    }
    case 'boolean': {
      if (typeof given === 'boolean') return { ok: true, value: given };
      const lowered = text.trim().toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(lowered)) return { ok: true, value: true };
      if (['false', 'no', 'off', '0'].includes(lowered)) return { ok: true, value: false };
      return fail('true or false');
    }
    case 'enum':
      return spec.values?.includes(text) ? { ok: true, value: text } : fail(`one of ${spec.values?.join(', ') ?? '(no values)'}`);
    case 'duration':
      return parseDuration(text) !== undefined ? { ok: true, value: text.trim() } : fail('a duration such as 30s, 10m or 2h');
    default:
      return checkPattern(spec, text, shown);
  }
}

function checkPattern(spec: ParamSpec, value: string | number, shown: string): Coerced {
  if (spec.pattern === undefined) return { ok: true, value };
  let pattern: RegExp;
  try {
    pattern = new RegExp(spec.pattern, 'u');
  } catch {
    return { ok: false, message: `param \`${spec.name}\` has an invalid pattern in the runbook` };
  }
  return pattern.test(String(value))
    ? { ok: true, value }
    : { ok: false, message: `param \`${spec.name}\` must match ${spec.pattern}; got ${shown}` };
}

/** Parses `k=v` arguments (CLI `--param`, Slack `name=value`); the first `=` splits. */
export function parseParamAssignments(items: readonly string[]): { values: Record<string, string>; errors: string[] } {
  const values: Record<string, string> = {};
  const errors: string[] = [];
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) errors.push(`expected name=value, got ${describeFound(item)}`);
    else values[item.slice(0, eq).trim()] = item.slice(eq + 1);
  }
  return { values, errors };
}

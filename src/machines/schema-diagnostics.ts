/**
 * Turns schema (zod) issues into diagnostics that point at the YAML that caused them,
 * saying what was expected and what was found.
 */
import { z, type ZodError, type ZodType } from 'zod';
import { describeFound, type Diagnostic } from './diagnostics.ts';
import type { YamlPath, YamlSource } from './yaml-source.ts';

export interface SchemaContext {
  readonly yaml: YamlSource;
  /** Path of the validated value inside the YAML document. */
  readonly base: YamlPath;
  /** The validated value, to show what was found. */
  readonly value: unknown;
  /** How to name the thing in messages: `executor \`http\``, `the front matter`. */
  readonly subject: string;
  readonly code: string;
  /** The schema, to list the allowed keys when an unknown one is found. */
  readonly schema?: ZodType;
}

export function diagnosticsFromZod(error: ZodError, context: SchemaContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of error.issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const fullPath = [...context.base, ...path];
    if (issue.code === 'unrecognized_keys') {
      const keys = context.schema ? objectKeysAt(context.schema, path) : undefined;
      const allowed = keys?.map((k) => `\`${k}\``).join(', ');
      for (const key of issue.keys) {
        out.push({
          severity: 'error',
          code: context.code,
          message: `unknown key \`${[...path, key].join('.')}\` for ${context.subject}`,
          location: context.yaml.locate([...fullPath, key], { preferKey: true }),
          expected: allowed ? `one of ${allowed}` : (/expected (.+)$/.exec(issue.message)?.[1] ?? 'a known key'),
          found: `\`${key}\``,
        });
      }
      continue;
    }
    const found = valueAt(context.value, path);
    out.push({
      severity: 'error',
      code: context.code,
      message: `${path.length > 0 ? `\`${path.join('.')}\`` : 'the value'} of ${context.subject}: ${issue.message}`,
      location: context.yaml.locate(fullPath),
      expected: expectationOf(issue),
      found: describeFound(found),
    });
  }
  return out;
}

/** The keys an object schema accepts at `path`, looking through optional/default wrappers. */
export function objectKeysAt(schema: ZodType, path: readonly (string | number)[]): string[] | undefined {
  let current: ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (current instanceof z.ZodObject) current = unwrap(current.shape[String(segment)] as ZodType | undefined);
    else if (current instanceof z.ZodArray) current = unwrap(current.element as ZodType);
    else if (current instanceof z.ZodRecord) current = unwrap(current.valueType as ZodType);
    else return undefined;
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : undefined;
}

function unwrap(schema: ZodType | undefined): ZodType | undefined {
  let current = schema;
  for (let i = 0; i < 8 && current; i += 1) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodDefault || current instanceof z.ZodNullable) {
      current = current.unwrap() as ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as ZodType;
    } else break;
  }
  return current;
}

function expectationOf(issue: z.core.$ZodIssue): string | undefined {
  if (issue.code === 'invalid_type') return issue.expected;
  if (issue.code === 'invalid_value') return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  const match = /expected (.+?)(?:, received .+)?$/.exec(issue.message);
  return match?.[1];
}

function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

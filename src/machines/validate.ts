/**
 * Validate: `RunbookDocument` → `Runbook` (IR) plus every diagnostic, at once. The front matter
 * and each step are checked against their schemas here; the cross-cutting checks are the named
 * rules of `rules.ts`.
 */
import { describeFound, hasErrors, sortDiagnostics, type Diagnostic, type SourceLocation } from './diagnostics.ts';
import type { ExecutorCatalog } from './executor-spec.ts';
import { frontMatterSchema, KNOWN_FRONT_MATTER_KEYS, type FrontMatter } from './front-matter.ts';
import type { ParamSpec, Runbook, SlackTrigger } from './ir.ts';
import { buildStep, isRecord, toApprovalGate, toEscalationRungs } from './build-steps.ts';
import type { RunbookDocument } from './parse.ts';
import { RUNBOOK_RULES, type RuleContext } from './rules.ts';
import { diagnosticsFromZod } from './schema-diagnostics.ts';
import type { YamlSource } from './yaml-source.ts';

export interface ValidationResult {
  /** The runbook, present when there are no errors (warnings allowed). */
  readonly runbook?: Runbook;
  /** The runbook as far as it could be built, even with errors (for `graph` and tooling). */
  readonly draft: Runbook;
  readonly diagnostics: readonly Diagnostic[];
}

export function validateRunbook(document: RunbookDocument, catalog: ExecutorCatalog): ValidationResult {
  const diagnostics: Diagnostic[] = [...document.diagnostics];
  const frontMatter = readFrontMatter(document, diagnostics);
  const gate = frontMatter.approval ? toApprovalGate(frontMatter.approval) : undefined;
  const steps = document.steps.map((node) => buildStep(node, catalog, gate, diagnostics));
  const draft: Runbook = {
    id: frontMatter.id ?? idFromFile(document.file),
    file: document.file,
    title: frontMatter.title ?? document.title ?? idFromFile(document.file),
    summary: frontMatter.summary ?? (document.intro ? firstParagraph(document.intro) : undefined),
    owner: frontMatter.owner,
    tags: frontMatter.tags,
    params: Object.entries(frontMatter.params).map(([name, p]) => toParamSpec(name, p)),
    approval: gate,
    ...(frontMatter.manual ? { manual: { escalation: toEscalationRungs(frontMatter.manual.escalation), ...(frontMatter.manual.expires !== undefined ? { expiresMs: frontMatter.manual.expires } : {}) } } : {}),
    triggers: {
      slack: frontMatter.triggers.slack !== undefined ? parseSlackUsage(frontMatter.triggers.slack) : undefined,
      pagerduty: frontMatter.triggers.pagerduty,
    },
    concurrency: frontMatter.concurrency,
    environment: frontMatter.environment,
    costCenter: frontMatter.cost_center,
    onCancel: frontMatter.on_cancel,
    steps,
  };
  const context: RuleContext = { document, runbook: draft, catalog, frontMatter: document.frontMatter };
  if (steps.length === 0 && !hasErrors(diagnostics)) {
    diagnostics.push({
      severity: 'error',
      code: 'no-steps',
      message: 'the runbook has no steps',
      location: document.frontMatterLocation,
      expected: 'at least one `## Step` heading',
      found: 'no level-2 headings',
    });
  }
  for (const rule of RUNBOOK_RULES) diagnostics.push(...rule.check(context));
  const sorted = sortDiagnostics(dedupe(diagnostics));
  return { runbook: hasErrors(sorted) ? undefined : draft, draft, diagnostics: sorted };
}

function readFrontMatter(document: RunbookDocument, diagnostics: Diagnostic[]): FrontMatter {
  const yaml = document.frontMatter;
  const fallback = frontMatterSchema.parse({});
  if (!yaml || yaml.value === undefined || yaml.value === null) return fallback;
  if (!isRecord(yaml.value)) {
    diagnostics.push({
      severity: 'error',
      code: 'front-matter',
      message: 'the front matter must be a YAML mapping',
      location: document.frontMatterLocation,
      expected: 'key: value lines',
      found: describeFound(yaml.value),
    });
    return fallback;
  }
  reportUnknownKeys(yaml, yaml.value, diagnostics);
  const parsed = frontMatterSchema.safeParse(yaml.value);
  if (parsed.success) return parsed.data;
  diagnostics.push(
    ...diagnosticsFromZod(parsed.error, {
      yaml,
      base: [],
      value: yaml.value,
      subject: 'the front matter',
      code: 'front-matter',
      schema: frontMatterSchema,
    }),
  );
  // Keep what is valid, so the steps can still be checked against the params that are.
  const partial = frontMatterSchema.safeParse(stripInvalid(yaml.value, parsed.error.issues.map((i) => String(i.path[0] ?? ''))));
  return partial.success ? partial.data : fallback;
}

function reportUnknownKeys(yaml: YamlSource, value: Record<string, unknown>, diagnostics: Diagnostic[]): void {
  for (const key of Object.keys(value)) {
    if (KNOWN_FRONT_MATTER_KEYS.includes(key)) continue;
    diagnostics.push({
      severity: 'warning',
      code: 'unknown-front-matter-key',
      message: `front-matter key \`${key}\` means nothing to Runbook Bot and is ignored`,
      location: yaml.locate([key], { preferKey: true }),
      expected: `one of ${KNOWN_FRONT_MATTER_KEYS.map((k) => `\`${k}\``).join(', ')}`,
      found: `\`${key}\``,
    });
  }
}

function stripInvalid(value: Record<string, unknown>, badKeys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !badKeys.includes(key)));
}

function toParamSpec(name: string, p: FrontMatter['params'][string]): ParamSpec {
  return {
    name,
    type: p.type,
    required: p.required ?? p.default === undefined,
    default: p.default,
    pattern: p.pattern,
    values: p.values,
    description: p.description,
    secret: p.secret,
  };
}

/** `rollback <model> [version]` → command `rollback`, positional `model`, optional `version`. */
export function parseSlackUsage(usage: string): SlackTrigger {
  const words = usage.trim().split(/\s+/);
  const positional = words.slice(1).flatMap((word) => {
    const match = /^(<|\[)([A-Za-z_][A-Za-z0-9_]*)(?:>|\])$/.exec(word);
    return match?.[2] ? [{ name: match[2], optional: match[1] === '[' }] : [];
  });
  return { usage: usage.trim(), command: words[0] ?? '', positional };
}

/** `runbooks/rollback-model.md` → `rollback-model`. */
export function idFromFile(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  const id = base.replace(/\.(md|markdown)$/i, '').toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return id.slice(0, 64) || 'runbook';
}

function firstParagraph(markdown: string): string {
  return (markdown.split(/\n\s*\n/)[0] ?? '').replace(/\s+/g, ' ').trim().slice(0, 280);
}

function dedupe(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.code}|${locationKey(d.location)}|${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function locationKey(l: SourceLocation): string {
  return `${l.file}:${l.line}:${l.column}`;
}

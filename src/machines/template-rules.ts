/**
 * The `template-reference` rule: every `{{ … }}` in a runbook parses, and names declared params,
 * known run/incident fields, and steps that have run by then (`steps.<id>.output…` or `.status`).
 */
import { describeFound, type Diagnostic, type SourceLocation } from './diagnostics.ts';
import { isRecord } from './build-steps.ts';
import type { RuleContext } from './rules.ts';
import {
  collectReferences,
  formatPath,
  hasTemplate,
  parseCondition,
  parseTemplate,
  TemplateSyntaxError,
  type Expr,
  type ParsedTemplate,
} from './template.ts';
import type { YamlPath } from './yaml-source.ts';

/** Fields of `run` a template may read. */
export const RUN_FIELDS = ['id', 'requester', 'runbook', 'started_at'] as const;
/** Fields of `incident` a template may read (empty strings when the run has no incident). */
export const INCIDENT_FIELDS = ['id', 'title', 'severity', 'status', 'service', 'urgency', 'url', 'channel', 'pagerduty_id'] as const;

interface Site {
  readonly text: string;
  readonly location: SourceLocation;
  /** Index of the step the template belongs to; steps before it (and itself, for undo) may be read. */
  readonly stepIndex?: number;
  readonly allowSelf: boolean;
  readonly allowPartition: boolean;
  readonly isCondition: boolean;
  readonly where: string;
}

export function checkTemplates(context: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const site of collectSites(context)) {
    let parsed: ParsedTemplate | Expr;
    try {
      parsed = site.isCondition ? parseCondition(site.text) : parseTemplate(site.text);
    } catch (e) {
      if (!(e instanceof TemplateSyntaxError)) throw e;
      out.push({
        severity: 'error',
        code: 'template-syntax',
        message: `${site.where}: ${e.message}`,
        location: site.location,
        expected: e.expected ?? 'a template such as {{ params.model }}',
        found: e.found ?? describeFound(site.text),
      });
      continue;
    }
    for (const ref of collectReferences(parsed)) {
      const problem = checkReference(ref.path, site, context);
      if (problem) out.push({ severity: 'error', location: site.location, ...problem });
    }
  }
  return out;
}

type Problem = Pick<Diagnostic, 'code' | 'message' | 'expected' | 'found'>;

function checkReference(path: readonly string[], site: Site, context: RuleContext): Problem | undefined {
  const [root, name, field] = path;
  const shown = `\`${formatPath(path)}\``;
  const { steps, params } = context.runbook;
  if (root === 'params') {
    if (name !== undefined && params.some((p) => p.name === name)) return undefined;
    return { code: 'unknown-param-reference', message: `${site.where} reads ${shown}, which is not a declared param`, expected: `one of ${params.map((p) => `params.${p.name}`).join(', ') || '(no params declared)'}`, found: shown };
  }
  if (root === 'steps') {
    const target = steps.findIndex((s) => s.id === name);
    if (target === -1) {
      return { code: 'unknown-step-reference', message: `${site.where} reads ${shown}, but there is no step \`${name ?? ''}\``, expected: `one of ${steps.map((s) => `\`${s.id}\``).join(', ')}`, found: shown };
    }
    const limit = site.stepIndex ?? -1;
    if (site.stepIndex !== undefined && (target > limit || (target === limit && !site.allowSelf))) {
      return { code: 'step-reference-order', message: `${site.where} reads ${shown}, but step \`${name}\` has not run yet at that point`, expected: 'a step that comes earlier', found: shown };
    }
    if (field !== 'output' && field !== 'status') {
      return { code: 'unknown-step-reference', message: `${site.where} reads ${shown}`, expected: `steps.${name}.output… or steps.${name}.status`, found: shown };
    }
    return undefined;
  }
  if (root === 'run' && !(RUN_FIELDS as readonly string[]).includes(name ?? '')) {
    return { code: 'unknown-reference', message: `${site.where} reads ${shown}`, expected: `one of ${RUN_FIELDS.map((f) => `run.${f}`).join(', ')}`, found: shown };
  }
  if (root === 'incident' && !(INCIDENT_FIELDS as readonly string[]).includes(name ?? '')) {
    return { code: 'unknown-reference', message: `${site.where} reads ${shown}`, expected: `one of ${INCIDENT_FIELDS.map((f) => `incident.${f}`).join(', ')}`, found: shown };
  }
  if (root === 'partition' && !site.allowPartition) {
    return { code: 'unknown-reference', message: `${site.where} reads \`partition\`, which only exists inside a backfill's \`call\``, expected: 'params, steps, run or incident', found: shown };
  }
  return undefined;
}

function collectSites(context: RuleContext): Site[] {
  const sites: Site[] = [];
  const fm = context.runbook;
  const fmAt = (path: YamlPath) => context.frontMatter?.locate(path) ?? context.document.frontMatterLocation;
  if (fm.concurrency !== undefined) {
    sites.push({ text: fm.concurrency, location: fmAt(['concurrency']), allowSelf: false, allowPartition: false, isCondition: false, where: 'the concurrency key' });
  }
  context.document.steps.forEach((node, stepIndex) => {
    const block = node.blocks[0];
    const body = block?.yaml.value;
    if (!block || !isRecord(body)) return;
    walkStrings(body, [], (text, path) => {
      const key = path[0];
      const isCondition = key === 'when';
      if (!isCondition && !hasTemplate(text)) return;
      sites.push({
        text,
        location: block.yaml.locate(path),
        stepIndex,
        allowSelf: key === 'undo',
        allowPartition: block.executor === 'backfill' && key === 'call',
        isCondition,
        where: `\`${path.join('.')}\` of step \`${node.id}\``,
      });
    });
  });
  return sites;
}

function walkStrings(value: unknown, path: (string | number)[], visit: (text: string, path: (string | number)[]) => void, depth = 0): void {
  if (depth > 32) return;
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((item, i) => walkStrings(item, [...path, i], visit, depth + 1));
  else if (isRecord(value)) for (const [key, item] of Object.entries(value)) walkStrings(item, [...path, key], visit, depth + 1);
}

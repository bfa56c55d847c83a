/**
 * The named static checks of `runbook lint` (DESIGN.md §3 "Static checks"). Each rule looks at
 * the whole runbook and returns its diagnostics; `validate.ts` runs them all.
 */
import { describeFound, type Diagnostic, type SourceLocation } from './diagnostics.ts';
import type { ExecutorCatalog } from './executor-spec.ts';
import type { ApprovalGate, Runbook, Step } from './ir.ts';
import type { RunbookDocument } from './parse.ts';
import { escalationWithinExpiry } from './sla-rules.ts';
import { checkTemplates } from './template-rules.ts';
import type { YamlSource } from './yaml-source.ts';

export interface RuleContext {
  readonly document: RunbookDocument;
  readonly runbook: Runbook;
  readonly catalog: ExecutorCatalog;
  readonly frontMatter?: YamlSource;
}

export interface Rule {
  readonly name: string;
  readonly description: string;
  check(context: RuleContext): Diagnostic[];
}

const error = (code: string, message: string, location: SourceLocation, expected?: string, found?: string): Diagnostic => ({
  severity: 'error', code, message, location, expected, found,
});
const warning = (code: string, message: string, location: SourceLocation, expected?: string, found?: string): Diagnostic => ({
  severity: 'warning', code, message, location, expected, found,
});

/** Where a step's block writes `path`, or the step heading when it has no block. */
function stepLocation(context: RuleContext, index: number, path: readonly (string | number)[]): SourceLocation {
  const node = context.document.steps[index];
  const block = node?.blocks[0];
  if (block) return path.length > 0 ? block.yaml.locate(path, { preferKey: false }) : block.location;
  return node?.location ?? context.document.frontMatterLocation;
}

function frontMatterLocation(context: RuleContext, path: readonly (string | number)[]): SourceLocation {
  return context.frontMatter?.locate(path) ?? context.document.frontMatterLocation;
}

export const duplicateStepIds: Rule = {
  name: 'duplicate-step-id',
  description: 'Every step id is unique (ids name steps in templates, on_failure and job ids).',
  check({ runbook }) {
    const first = new Map<string, Step>();
    const out: Diagnostic[] = [];
    for (const step of runbook.steps) {
      const earlier = first.get(step.id);
      if (!earlier) first.set(step.id, step);
      else {
        out.push(error('duplicate-step-id', `step id \`${step.id}\` is already used by the step on line ${earlier.location.line}`,
          step.location, 'a unique id (add `{#another-id}` to the heading)', `\`${step.id}\``));
      }
    }
    return out;
  },
};

export const onFailureTargets: Rule = {
  name: 'unknown-step-reference',
  description: '`on_failure` names an existing step.',
  check(context) {
    const ids = new Set(context.runbook.steps.map((s) => s.id));
    return context.runbook.steps.flatMap((step, index) =>
      step.onFailure.kind === 'goto' && !ids.has(step.onFailure.stepId)
        ? [error('unknown-step-reference', `\`on_failure\` of step \`${step.id}\` names a step that does not exist`,
            stepLocation(context, index, ['on_failure']), `a step id (${[...ids].map((i) => `\`${i}\``).join(', ')}) or abort/continue/rollback`,
            `\`${step.onFailure.stepId}\``)]
        : [],
    );
  },
};

export const unreachableSteps: Rule = {
  name: 'unreachable-step',
  description: 'Every step can run: it is reachable from the first step, and its `when` is not always false.',
  check(context) {
    const { steps } = context.runbook;
    const index = new Map(steps.map((s, i) => [s.id, i]));
    const reached = new Set<number>();
    const queue = steps.length > 0 ? [0] : [];
    while (queue.length > 0) {
      const i = queue.pop() ?? 0;
      if (reached.has(i) || i >= steps.length) continue;
      reached.add(i);
      const step = steps[i];
      if (!step) continue;
      queue.push(i + 1);
      if (step.onFailure.kind === 'goto') {
        const target = index.get(step.onFailure.stepId);
        if (target !== undefined) queue.push(target);
      }
    }
    return steps.flatMap((step, i) => {
      if (!reached.has(i)) {
        return [error('unreachable-step', `step \`${step.id}\` can never run: no path from the first step reaches it`, step.location, 'a step on some path from the first step')];
      }
      if (step.when !== undefined && /^\s*(?:false|\{\{\s*false\s*\}\})\s*$/.test(step.when)) {
        return [error('unreachable-step', `step \`${step.id}\` can never run: its \`when\` is always false`, stepLocation(context, i, ['when']), 'a condition that can be true', describeFound(step.when))];
      }
      return [];
    });
  },
};

export const paramDefinitions: Rule = {
  name: 'param-definition',
  description: 'Param patterns compile, enums list values, defaults have the declared type and match their own pattern.',
  check(context) {
    const out: Diagnostic[] = [];
    for (const param of context.runbook.params) {
      const where = (key?: string) => frontMatterLocation(context, key ? ['params', param.name, key] : ['params', param.name]);
      let pattern: RegExp | undefined;
      if (param.pattern !== undefined) {
        try {
          pattern = new RegExp(param.pattern, 'u');
        } catch (e) {
          out.push(error('invalid-pattern', `the pattern of param \`${param.name}\` is not a valid regular expression: ${(e as Error).message}`, where('pattern'), 'a regular expression', describeFound(param.pattern)));
        }
      }
      if (param.type === 'enum' && !param.values) {
        out.push(error('param-definition', `enum param \`${param.name}\` lists no values`, where('type'), '`values: [a, b]`', 'no `values`'));
      }
      if (param.default === undefined) continue;
      const problem = checkParamValue(param.type, param.default, pattern, param.values);
      if (problem) {
        out.push(error('param-default', `the default of param \`${param.name}\` ${problem}`, where('default'), `a ${param.type}${pattern ? ` matching ${param.pattern}` : ''}`, describeFound(param.default)));
      }
    }
    return out;
  },
};

/** Checks a param value against its declaration; returns what is wrong, or undefined. */
export function checkParamValue(type: string, value: unknown, pattern: RegExp | undefined, values: readonly string[] | undefined): string | undefined {
  if (type === 'number' && typeof value !== 'number') return 'is not a number';
  if (type === 'boolean' && typeof value !== 'boolean') return 'is not true or false';
  if (type === 'enum' && values && !values.includes(String(value))) return `is not one of ${values.join(', ')}`;
  if (type === 'duration' && !/^(?:\d+(?:ms|s|m|h|d))+$/.test(String(value))) return 'is not a duration';
  if (pattern && !pattern.test(String(value))) return `does not match its own pattern ${pattern.source}`;
  return undefined;
}

export const approvalQuorum: Rule = {
  name: 'approval-quorum',
  description: 'An approval quorum can be met: it is not larger than the approvers listed by id.',
  check(context) {
    const out: Diagnostic[] = [];
    const checkGate = (gate: ApprovalGate | undefined, location: SourceLocation, what: string) => {
      if (!gate || gate.from.length === 0 || gate.from.some((a) => a.startsWith('@'))) return;
      if (gate.quorum > gate.from.length) {
        out.push(error('approval-quorum', `${what} needs ${gate.quorum} approvers but lists only ${gate.from.length}`, location,
          `a quorum of at most ${gate.from.length}, or more approvers (a \`@group\` counts as many)`, `quorum ${gate.quorum}`));
      }
    };
    checkGate(context.runbook.approval, frontMatterLocation(context, ['approval', 'quorum']), 'the default approval');
    context.runbook.steps.forEach((step, i) => checkGate(step.approval, stepLocation(context, i, ['quorum']), `approval step \`${step.id}\``));
    return out;
  },
};

export const mutatingStepSafety: Rule = {
  name: 'mutating-step-safety',
  description: 'A mutating step has an approval before it, an `undo`, and a `timeout` (warnings; policy may make them errors).',
  check(context) {
    const out: Diagnostic[] = [];
    let approved = false;
    context.runbook.steps.forEach((step, i) => {
      if (step.kind === 'approval') approved = true;
      if (!step.mutating) return;
      const at = stepLocation(context, i, []);
      if (!approved) {
        out.push(warning('mutating-without-approval', `step \`${step.id}\` changes production with no approval step before it`, at, 'an `approve` step earlier in the runbook', `\`${step.call?.executor}\` first`));
      }
      if (!step.undo) {
        out.push(warning('mutating-without-undo', `step \`${step.id}\` changes production and has no \`undo\`, so a rollback cannot reverse it`, at, 'an `undo:` mapping', 'no `undo`'));
      }
      if (step.timeoutMs === undefined) {
        out.push(warning('mutating-without-timeout', `step \`${step.id}\` changes production and has no \`timeout\``, at, 'a `timeout:` such as 10m', 'no `timeout`'));
      }
    });
    return out;
  },
};

export const triggerDefinitions: Rule = {
  name: 'trigger-definition',
  description: 'Slack usage names declared params; PagerDuty title patterns compile and their named groups are params.',
  check(context) {
    const out: Diagnostic[] = [];
    const params = new Set(context.runbook.params.map((p) => p.name));
    const slack = context.runbook.triggers.slack;
    for (const arg of slack?.positional ?? []) {
      if (!params.has(arg.name)) {
        out.push(error('unknown-param-reference', `the Slack usage names \`${arg.name}\`, which is not a declared param`, frontMatterLocation(context, ['triggers', 'slack']), `one of ${[...params].join(', ') || '(no params declared)'}`, `\`${arg.name}\``));
      }
    }
    context.runbook.triggers.pagerduty.forEach((rule, i) => {
      if (rule.title === undefined) return;
      const at = frontMatterLocation(context, ['triggers', 'pagerduty', i, 'title']);
      let regex: RegExp;
      try {
        regex = new RegExp(rule.title, 'u');
      } catch (e) {
        out.push(error('invalid-pattern', `the PagerDuty title pattern is not a valid regular expression: ${(e as Error).message}`, at, 'a regular expression', describeFound(rule.title)));
        return;
      }
      for (const group of namedGroups(regex)) {
        if (!params.has(group)) out.push(warning('unknown-param-reference', `the PagerDuty title pattern captures \`${group}\`, which is not a declared param, so it is dropped`, at, 'named groups that are params', `\`${group}\``));
      }
    });
    return out;
  },
};

function namedGroups(regex: RegExp): string[] {
  return [...regex.source.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1] ?? '');
}

const DOCUMENTATION_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console', 'zsh', 'js', 'ts', 'json', 'yaml', 'yml', 'text', 'txt', 'sql', 'go', 'rb', 'py', 'hcl', 'diff', 'md', 'ini', 'toml', 'xml', 'css', 'html', 'java', 'c', 'lua', 'rust', 'ps1', 'cmd']);

export const executorTypos: Rule = {
  name: 'possible-executor-typo',
  description: 'A fenced block whose info string is one letter away from an executor was probably meant to run.',
  check(context) {
    const names = [...context.catalog.keys()];
    return context.document.steps.flatMap((node) =>
      [...node.instructions.matchAll(/^ {0,3}(?:`{3,}|~{3,})[ \t]*([A-Za-z][\w-]*)/gm)].flatMap((match) => {
        const lang = match[1] ?? '';
        if (DOCUMENTATION_LANGUAGES.has(lang.toLowerCase())) return [];
        const near = names.find((name) => name !== lang && editDistance(name, lang.toLowerCase()) <= 1 && name.length > 2);
        return near
          ? [warning('possible-executor-typo', `the \`${lang}\` block in step \`${node.id}\` is documentation only; did you mean the \`${near}\` executor?`, node.location, `\`${near}\` to run it`, `\`${lang}\``)]
          : [];
      }),
    );
  },
};

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 1) return 2;
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

export const templateReferences: Rule = {
  name: 'template-reference',
  description: 'Templates parse, and name declared params and earlier steps (`steps.<id>.output`, `.status`).',
  check: checkTemplates,
};

/** Every rule `runbook lint` runs, in reporting order. */
export const RUNBOOK_RULES: readonly Rule[] = [
  duplicateStepIds,
  onFailureTargets,
  templateReferences,
  unreachableSteps,
  paramDefinitions,
  approvalQuorum,
  triggerDefinitions,
  mutatingStepSafety,
  executorTypos,
  escalationWithinExpiry,
];

import { stringify } from 'yaml';
import { formatDiagnostic } from '../../machines/diagnostics.ts';
import type { ExecutorCatalog } from '../../machines/executor-spec.ts';
import { parseParamAssignments, resolveParams } from '../../machines/params.ts';
import { planRun, type Plan, type PlannedStep } from '../../machines/plan.ts';
import { createExecutorRegistry } from '../../executors/registry.ts';
import { CliError } from '../cli-error.ts';
import type { CliIo } from '../io.ts';
import { resolveRunbook } from '../runbook-files.ts';

export interface PlanOptions {
  readonly runbook: string;
  readonly params: readonly string[];
  readonly format: 'text' | 'json';
  readonly runbooksDir: string;
  readonly targetsFile?: string;
}

/** `runbook plan <runbook> --param k=v …`: validates params and prints every resolved call; runs nothing. */
export async function planCommand(options: PlanOptions, catalog: ExecutorCatalog, io: CliIo): Promise<number> {
  const loaded = await resolveRunbook(options.runbook, options.runbooksDir, catalog);
  if (!loaded.runbook) {
    for (const d of loaded.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
    throw new CliError('runbook_invalid', `${loaded.file} has errors (see above); nothing was planned`, 1);
  }
  const assignments = parseParamAssignments(options.params);
  if (assignments.errors.length > 0) throw new CliError('runbook_param_invalid', assignments.errors.map((e) => `--param: ${e}`).join('\n'));
  const params = resolveParams(loaded.runbook, assignments.values);
  if (!params.ok) throw new CliError('runbook_param_invalid', params.problems.map((p) => p.message).join('\n'));
  const plan = withExecutorPlans(planRun(loaded.runbook, params.values), options.targetsFile);
  io.stdout(options.format === 'json' ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan, loaded.file));
  return 0;
}

/** Adds each executor's own account of what a call would do (`SendCommand … to tag:role=…`). */
function withExecutorPlans(plan: Plan, targetsFile: string | undefined): Plan {
  const registry = createExecutorRegistry(targetsFile ? { targetsFile } : {}).executors;
  return {
    ...plan,
    steps: plan.steps.map((step) => {
      const executor = step.executor ? registry.get(step.executor) : undefined;
      if (!executor?.plan || step.input === undefined) return step;
      try {
        return { ...step, actions: executor.plan(step.input) };
      } catch {
        return step;
      }
    }),
  };
}

export function renderPlan(plan: Plan, file: string): string {
  const lines = [`Plan for ${plan.title} (${plan.runbook}, ${file})`];
  const params = Object.entries(plan.params).map(([k, v]) => `${k}=${String(v)}`);
  lines.push(`params: ${params.join(' ') || '(none)'}`, '');
  plan.steps.forEach((step, i) => {
    lines.push(`${String(i + 1).padStart(2)}. ${step.title} {#${step.id}}  [${tagsOf(step)}]`);
    for (const action of step.actions ?? []) lines.push(`      → ${action}`);
    if (step.input !== undefined && step.kind !== 'manual' && !step.actions) lines.push(...indent(stringify(step.input, { lineWidth: 0 }).trimEnd(), 6));
    if (step.undo) lines.push(`      undo (${step.undo.executor}):`, ...indent(stringify(step.undo.input, { lineWidth: 0 }).trimEnd(), 8));
    for (const note of step.notes) lines.push(`      · ${note}`);
  });
  lines.push('', 'Nothing was executed. ⟨…⟩ marks values known only at run time.');
  return `${lines.join('\n')}\n`;
}

function tagsOf(step: PlannedStep): string {
  const tags: string[] = [step.executor ?? step.kind];
  if (step.kind === 'call' || step.kind === 'wait') tags.push(step.mutating ? 'MUTATING' : 'read-only');
  if (step.kind === 'approval') tags.push('waits for approval');
  if (step.condition === 'skipped') tags.push('skipped: `when` is false');
  if (step.condition === 'at-run-time') tags.push('conditional');
  return tags.join(', ');
}

function indent(text: string, spaces: number): string[] {
  return text.split('\n').map((line) => `${' '.repeat(spaces)}${line}`);
}

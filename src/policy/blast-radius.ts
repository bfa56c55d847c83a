/**
 * Blast-radius limits, checked on the resolved plan before a run starts: how many SSM targets a
 * step names, how many it runs on at once (SSM's `MaxConcurrency`, 50 when unset), how many
 * backfill partitions run in parallel (4 when unset).
 */
import type { Runbook } from '../machines/ir.ts';
import { planRun, type PlannedStep } from '../machines/plan.ts';
import type { Policy } from './types.ts';
import { formatRuleRef } from './types.ts';

/** SSM Run Command's `MaxConcurrency` when a call sets none. */
export const SSM_DEFAULT_MAX_CONCURRENCY = 50;
/** The backfill executor's `parallelism` when a call sets none. */
export const BACKFILL_DEFAULT_PARALLELISM = 4;

export interface BlastRadiusViolation {
  /** `policy.yaml:40 limits.ssm_max_targets`. */
  readonly rule: string;
  readonly stepId: string;
  readonly limit: 'ssm_max_targets' | 'ssm_max_concurrency' | 'backfill_max_parallelism';
  readonly max: number | string;
  readonly found: number | string;
  readonly message: string;
}

type Input = Readonly<Record<string, unknown>>;

/** Every limit the run's resolved calls (and their undo calls) would exceed. */
export function checkBlastRadius(policy: Policy, runbook: Runbook, params: Readonly<Record<string, unknown>>): BlastRadiusViolation[] {
  const { limits } = policy;
  if (!limits.ssmMaxTargets && !limits.ssmMaxConcurrency && !limits.backfillMaxParallelism) return [];
  const plan = planRun(runbook, params);
  const out: BlastRadiusViolation[] = [];
  for (const step of plan.steps) {
    for (const call of callsOf(step)) {
      if (call.executor === 'ssm' || call.executor === 'ssm-automation') out.push(...checkSsm(policy, step.id, call.executor, call.input));
      if (call.executor === 'backfill') out.push(...checkBackfill(policy, step.id, call.input));
    }
  }
  return out;
}

function callsOf(step: PlannedStep): { executor: string; input: Input }[] {
  const calls: { executor: string; input: Input }[] = [];
  if (step.executor && isRecord(step.input)) calls.push({ executor: step.executor, input: step.input });
  if (step.undo && isRecord(step.undo.input)) calls.push({ executor: step.undo.executor, input: step.undo.input });
  return calls;
}

function checkSsm(policy: Policy, stepId: string, executor: string, input: Input): BlastRadiusViolation[] {
  const out: BlastRadiusViolation[] = [];
  const count = targetCount(input);
  const maxTargets = policy.limits.ssmMaxTargets;
  if (maxTargets && count !== undefined && count > maxTargets.value) {
    out.push({ rule: formatRuleRef(maxTargets.ref), stepId, limit: 'ssm_max_targets', max: maxTargets.value, found: count, message: `step \`${stepId}\` names ${count} SSM targets; the policy allows at most ${maxTargets.value}` });
  }
  const maxConcurrency = policy.limits.ssmMaxConcurrency;
  if (!maxConcurrency) return out;
  const written = input['max_concurrency'];
  const value = written ?? (executor === 'ssm' ? SSM_DEFAULT_MAX_CONCURRENCY : undefined);
  if (value === undefined) return out;
  const problem = concurrencyProblem(value, maxConcurrency.value, count);
  if (problem) {
    out.push({
      rule: formatRuleRef(maxConcurrency.ref), stepId, limit: 'ssm_max_concurrency', max: maxConcurrency.value, found: typeof value === 'number' ? value : String(value),
      message: `step \`${stepId}\` runs on ${written === undefined ? `SSM's default of ${String(value)}` : String(value)} targets at once: ${problem}`,
    });
  }
  return out;
}

/** Why `value` (a number, `"10"` or `"10%"`) exceeds `limit`, or undefined when it does not. */
function concurrencyProblem(value: unknown, limit: number | string, targets: number | undefined): string | undefined {
  const asked = parseRate(value);
  const max = parseRate(limit);
  if (!asked || !max) return `the value cannot be checked against the policy's limit of ${String(limit)}; write a number`;
  if (asked.percent === max.percent) return asked.amount > max.amount ? `the policy allows at most ${String(limit)}` : undefined;
  if (targets === undefined) return `${asked.percent ? 'a percentage' : 'a count'} over targets that are only known at run time cannot be checked against the policy's limit of ${String(limit)}`;
  const absolute = asked.percent ? Math.ceil((asked.amount * targets) / 100) : asked.amount;
  const allowed = max.percent ? Math.floor((max.amount * targets) / 100) : max.amount;
  return absolute > Math.max(1, allowed) ? `that is ${absolute} of ${targets} targets; the policy allows at most ${String(limit)}` : undefined;
}

function parseRate(value: unknown): { amount: number; percent: boolean } | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return { amount: value, percent: false };
  const match = typeof value === 'string' ? /^(\d+)(%?)$/.exec(value.trim()) : null;
  return match ? { amount: Number(match[1]), percent: match[2] === '%' } : undefined;
}

/** Targets a call names explicitly (instance ids); undefined when they are chosen by tag at run time. */
function targetCount(input: Input): number | undefined {
  const ids = input['instance_ids'];
  if (Array.isArray(ids)) return ids.length;
  const targets = input['targets'];
  if (!Array.isArray(targets)) return undefined;
  let count = 0;
  for (const target of targets) {
    if (!isRecord(target) || target['key'] !== 'InstanceIds' || !Array.isArray(target['values'])) return undefined;
    count += target['values'].length;
  }
  return count;
}

function checkBackfill(policy: Policy, stepId: string, input: Input): BlastRadiusViolation[] {
  const limit = policy.limits.backfillMaxParallelism;
  if (!limit) return [];
  const raw = input['parallelism'];
  const parallelism = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw === undefined ? BACKFILL_DEFAULT_PARALLELISM : undefined;
  if (parallelism !== undefined && parallelism <= limit.value) return [];
  return [{
    rule: formatRuleRef(limit.ref), stepId, limit: 'backfill_max_parallelism', max: limit.value, found: parallelism ?? String(raw),
    message: `step \`${stepId}\` backfills ${parallelism ?? String(raw)} partitions at once; the policy allows at most ${limit.value}`,
  }];
}

function isRecord(value: unknown): value is Input {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

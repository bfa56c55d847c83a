/**
 * The `rollback` executor: serve model `model` at version `to` (default: the version that served
 * before the current one) through the backend `targets.yaml` names for it (the contract is in
 * `targets.ts`). It records what served before it acted (`from_version`), so the runbook's undo,
 * `rollback` with `to: <from_version>`, rolls forward to exactly that.
 *
 * Output: `{ model, target, backend, requested, from_version, to_version, already_serving,
 * converged_after_ms }`. Idempotent under BullMQ's at-least-once delivery and the step's retries:
 * the POST carries the attempt's `Idempotency-Key`, a model already serving the version is not
 * switched again, a rollout an earlier attempt started is waited for rather than restarted, and a
 * version an earlier attempt of the same step deployed is recognised by its key in the history
 * (so a retried `to: previous` does not go back one version more).
 *
 * Errors: `rollback_model_not_found`, `rollback_version_not_found`, `rollback_no_previous_version`,
 * `rollback_not_converged` (the serving version did not report the target within `maxWaitMs`, or
 * the call was aborted while waiting), `rollback_ssm_failed` (none retryable);
 * `rollback_backend_unavailable` (retryable), `rollback_backend_rejected`,
 * `rollback_backend_reply_invalid`, `targets_entry_not_found`, `targets_secret_missing`.
 */
import { z } from 'zod';
import { ExecutorError, type Executor, type ExecutorContext } from './contract.ts';
import { describeValueForPlan } from './limits.ts';
import { rollbackArgs } from './specs.ts';
import { builtinSpec, parseInput } from './ssm.ts';
import {
  callControlApi, compileControlOptions, describeTarget, isRecord, isRuntimeValue, readReply, resolveTarget, runControlAutomation,
  type ControlExecutorOptions, type ControlSettings, type HttpTarget, type SsmTarget, type TargetEntry,
} from './targets.ts';

/** Options of {@link createRollbackExecutor}. */
export interface RollbackExecutorOptions extends ControlExecutorOptions {
  /** First wait between deployment reads while the rollout converges; grows by half each read. @default 2000 */
  readonly pollIntervalMs?: number;
  /** @default 15000 */
  readonly maxPollIntervalMs?: number;
  /** How long the serving version may take to report the target before `rollback_not_converged`. @default 600000 */
  readonly maxWaitMs?: number;
}

interface RollbackSettings extends ControlSettings {
  readonly pollIntervalMs: number;
  readonly maxPollIntervalMs: number;
  readonly maxWaitMs: number;
}

/** What `steps.<id>.output` holds after a rollback. */
export interface RollbackOutput {
  readonly model: string;
  /** The `targets.yaml` entry used. */
  readonly target: string;
  readonly backend: 'http' | 'ssm';
  /** `to` as the step asked (`previous` or a version). */
  readonly requested: string;
  /** What served before this step acted; `null` only when an SSM document does not report it. */
  readonly from_version: string | null;
  readonly to_version: string | null;
  readonly already_serving: boolean;
  readonly converged_after_ms: number;
}

const resolved = z.object({ model: z.string(), to: z.string(), target: z.string().optional() }, { error: 'expected resolved arguments (a template was left unresolved)' });
type RollbackCall = z.output<typeof resolved>;
const PREVIOUS = 'previous';

const deploymentSchema = z.object({
  version: z.string(),
  previous_version: z.string().nullish(),
  target_version: z.string().nullish(),
  history: z.array(z.object({ version: z.string(), idempotency_key: z.string().nullish() })).default([]),
  healthy: z.boolean().optional(),
});
type Deployment = z.output<typeof deploymentSchema>;

/** Builds the `rollback` executor; `plan` shows the resolved target without calling it. */
export function createRollbackExecutor(options: RollbackExecutorOptions): Executor {
  const settings: RollbackSettings = {
    ...compileControlOptions(options),
    pollIntervalMs: options.pollIntervalMs ?? 2_000,
    maxPollIntervalMs: options.maxPollIntervalMs ?? 15_000,
    maxWaitMs: options.maxWaitMs ?? 600_000,
  };
  return {
    spec: builtinSpec('rollback'),
    plan: (input) => planRollback(input, settings),
    run: async (input, ctx) => {
      const call = parseInput(rollbackArgs.pipe(resolved), input, 'executor_input_invalid', 'rollback');
      const entry = resolveTarget(settings.targets, 'models', call.model, call.target);
      ctx.logger.info({ model: call.model, to: call.to, target: entry.name, backend: entry.target.backend }, 'rollback: starting');
      const output = entry.target.backend === 'http'
        ? await rollbackOverHttp(call, entry, entry.target, settings, ctx)
        : await rollbackOverSsm(call, entry, entry.target, settings, ctx);
      ctx.logger.info({ ...output }, 'rollback: done');
      return output;
    },
  };
}

async function rollbackOverHttp(call: RollbackCall, entry: TargetEntry, target: HttpTarget, settings: RollbackSettings, ctx: ExecutorContext): Promise<RollbackOutput> {
  const base = { model: call.model, target: entry.name, backend: 'http' as const, requested: call.to };
  const found = await readDeployment(call.model, entry, target, settings, ctx);
  const top = found.history[0];
  const stepPrefix = `${ctx.runId}/${ctx.stepId}/${ctx.phase}/`;
  const rolloutIdle = (version: string) => (found.target_version ?? version) === version;
  // An earlier attempt of this very step finished the switch: report what it found, switch nothing.
  if (top?.version === found.version && top.idempotency_key?.startsWith(stepPrefix) && rolloutIdle(found.version) && (call.to === PREVIOUS || call.to === found.version)) {
    return { ...base, from_version: found.history[1]?.version ?? null, to_version: found.version, already_serving: true, converged_after_ms: 0 };
  }
  const to = call.to === PREVIOUS ? (found.previous_version ?? found.history[1]?.version) : call.to;
  if (!to) throw new ExecutorError('rollback_no_previous_version', `${call.model} serves ${found.version} and its deployment history has no earlier version to roll back to`, { retryable: false });
  if (found.version === to && rolloutIdle(to)) return { ...base, from_version: found.version, to_version: to, already_serving: true, converged_after_ms: 0 };
  if (found.target_version === to) {
    ctx.logger.info({ model: call.model, version: to }, 'rollback: a rollout to this version is already in progress (an earlier attempt); waiting for it');
  } else {
    await checkVersionExists(call.model, to, entry, target, settings, ctx);
    await switchVersion(call.model, to, entry, target, settings, ctx);
  }
  const convergedAfterMs = await waitForVersion(call.model, to, found, entry, target, settings, ctx);
  return { ...base, from_version: found.version, to_version: to, already_serving: false, converged_after_ms: convergedAfterMs };
}

async function readDeployment(model: string, entry: TargetEntry, target: HttpTarget, settings: RollbackSettings, ctx: ExecutorContext): Promise<Deployment> {
  const reply = await callControlApi(settings, entry, target, { method: 'GET', path: ['v1', 'models', model, 'deployment'], accept: [200, 404] }, ctx, 'rollback');
  if (reply.status === 404) throw new ExecutorError('rollback_model_not_found', `${reply.what} answered 404: ${entry.name} serves no model named ${model}`, { retryable: false });
  return readReply(deploymentSchema, reply, 'a deployment ({ version, previous_version, history, … })', 'rollback');
}

async function checkVersionExists(model: string, version: string, entry: TargetEntry, target: HttpTarget, settings: RollbackSettings, ctx: ExecutorContext): Promise<void> {
  const reply = await callControlApi(settings, entry, target, { method: 'GET', path: ['v1', 'models', model, 'versions', version], accept: [200, 404] }, ctx, 'rollback');
  if (reply.status === 404) throw versionNotFound(model, version, reply.what);
}

function versionNotFound(model: string, version: string, what: string): ExecutorError {
  return new ExecutorError('rollback_version_not_found', `${model} has no version ${version} (${what} answered 404); nothing was changed`, { retryable: false });
}

async function switchVersion(model: string, version: string, entry: TargetEntry, target: HttpTarget, settings: RollbackSettings, ctx: ExecutorContext): Promise<void> {
  const request = { method: 'POST', path: ['v1', 'models', model, 'deployment'], body: { version }, idempotencyKey: ctx.idempotencyKey, accept: [200, 202, 404, 409] } as const;
  const reply = await callControlApi(settings, entry, target, request, ctx, 'rollback');
  if (reply.status === 404) throw versionNotFound(model, version, reply.what);
  if (reply.status === 409) {
    const why = isRecord(reply.body) && typeof reply.body['error'] === 'string' ? `: ${ctx.redact(reply.body['error'])}` : '';
    throw new ExecutorError('rollback_backend_unavailable', `${reply.what} answered 409, another rollout is in the way${why}; retrying may succeed`, { retryable: true });
  }
  ctx.logger.info({ model, version, status: reply.status }, 'rollback: switch accepted');
}

/** Reads the deployment with growing pauses until it serves `version`; returns how long that took. */
async function waitForVersion(model: string, version: string, before: Deployment, entry: TargetEntry, target: HttpTarget, settings: RollbackSettings, ctx: ExecutorContext): Promise<number> {
  const started = settings.now();
  let last = before;
  let intervalMs = settings.pollIntervalMs;
  for (let reads = 0; ; reads += 1) {
    const remainingMs = started + settings.maxWaitMs - settings.now();
    if (remainingMs <= 0) throw notConverged(model, version, last, `within ${settings.maxWaitMs} ms (maxWaitMs, ${reads} reads)`);
    try {
      await settings.sleep(Math.min(intervalMs, remainingMs), ctx.signal);
      last = await readDeployment(model, entry, target, settings, ctx);
    } catch (error) {
      if (ctx.signal.aborted) throw notConverged(model, version, last, `before the call was aborted (after ${settings.now() - started} ms)`);
      if (!(error instanceof ExecutorError && error.retryable)) throw error;
      ctx.logger.warn({ model, error: error.message }, 'rollback: deployment read failed while waiting; reading again');
    }
    if (last.version === version && (last.target_version ?? version) === version && last.healthy !== false) return settings.now() - started;
    intervalMs = Math.min(settings.maxPollIntervalMs, Math.ceil(intervalMs * 1.5));
  }
}

function notConverged(model: string, version: string, last: Deployment, when: string): ExecutorError {
  const state = `serving ${last.version}${last.target_version ? `, rolling out ${last.target_version}` : ''}${last.healthy === false ? ', unhealthy' : ''}`;
  return new ExecutorError('rollback_not_converged', `${model} did not report ${version} ${when}; last seen ${state}`, { retryable: false });
}

async function rollbackOverSsm(call: RollbackCall, entry: TargetEntry, target: SsmTarget, settings: RollbackSettings, ctx: ExecutorContext): Promise<RollbackOutput> {
  const started = settings.now();
  let outputs: Record<string, unknown>;
  try {
    ({ outputs } = await runControlAutomation(settings, target, { Model: call.model, Version: call.to }, ctx));
  } catch (error) {
    if (!(error instanceof ExecutorError && error.code === 'ssm_automation_failed')) throw error;
    throw new ExecutorError('rollback_ssm_failed', `rollback of ${call.model} to ${call.to} via ${describeTarget(entry)} failed: ${error.message}`, { retryable: false, cause: error });
  }
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null);
  const fromVersion = text(outputs['FromVersion']);
  if (fromVersion === null) ctx.logger.warn({ document: target.document }, 'rollback: the document reported no FromVersion output; the undo cannot be exact');
  const toVersion = text(outputs['ToVersion']) ?? (call.to === PREVIOUS ? null : call.to);
  const alreadyServing = outputs['AlreadyServing'] === true || outputs['AlreadyServing'] === 'true';
  return {
    model: call.model, target: entry.name, backend: 'ssm', requested: call.to,
    from_version: fromVersion, to_version: toVersion, already_serving: alreadyServing, converged_after_ms: settings.now() - started,
  };
}

/** `rollback model-x → v41 via http https://… (targets.yaml:3:3 model-x)`; lenient: arguments may hold run-time markers. */
function planRollback(input: unknown, settings: RollbackSettings): string[] {
  const args = isRecord(input) ? input : {};
  const model = describeValueForPlan(args['model']);
  const to = args['to'] === undefined || args['to'] === PREVIOUS ? 'the previous version' : describeValueForPlan(args['to']);
  if ([args['model'], args['target']].some(isRuntimeValue)) return [`rollback ${model} → ${to} via the ${settings.targets.file} entry chosen at run time`];
  let via: string;
  let how: string;
  try {
    const entry = resolveTarget(settings.targets, 'models', model, typeof args['target'] === 'string' ? args['target'] : undefined);
    via = describeTarget(entry);
    how = entry.target.backend === 'http'
      ? `reads the deployment, checks the version exists, POSTs the switch with the attempt's Idempotency-Key, waits up to ${settings.maxWaitMs} ms for it to serve`
      : `StartAutomationExecution ${entry.target.document} with Model, Version; the document checks, switches and waits`;
  } catch (error) {
    via = `an unresolved target (${error instanceof Error ? error.message : String(error)})`;
    how = 'nothing can run until targets.yaml has an entry for it';
  }
  return [`rollback ${model} → ${to} via ${via}`, how];
}

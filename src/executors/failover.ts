/**
 * The `failover` executor: move a service's traffic from region `from` to region `to` in steps
 * (`shift: [10, 50, 100]`), through the backend `targets.yaml` names for the service (the contract
 * is in `targets.ts`). It records the weights it found before acting (`initial_weights`); the
 * runbook's undo is a failover back.
 *
 * Step `p` puts p% of the pair's traffic (`from` + `to`) on `to`; other regions keep theirs. The
 * target region's health is read before every weight change: unhealthy before the first, the call
 * is refused (`failover_target_unhealthy`, nothing changed); unhealthy later, it stops and leaves
 * traffic where it is (`failover_stopped_unhealthy`, the weights reached in the message).
 * Idempotent: every call starts from the current weights, and a step that would not raise `to`'s
 * share is reported as already reached, so a call repeated after a crash resumes where it stopped.
 *
 * Output: `{ service, target, backend, from, to, initial_weights, final_weights, steps: [{ percent,
 * status: 'applied' | 'already_reached', weights }] }`. Other errors: `failover_region_unknown`,
 * `failover_ssm_failed` (not retryable), `failover_backend_unavailable` (retryable),
 * `failover_backend_rejected`, `failover_backend_reply_invalid`, `targets_entry_not_found`,
 * `targets_secret_missing`; their messages end with the last weights the backend confirmed.
 */
import { z } from 'zod';
import { ExecutorError, type Executor, type ExecutorContext } from './contract.ts';
import { describeValueForPlan } from './limits.ts';
import { failoverArgs } from './specs.ts';
import { builtinSpec, parseInput } from './ssm.ts';
import {
  callControlApi, compileControlOptions, describeTarget, isRecord, isRuntimeValue, readReply, resolveTarget, runControlAutomation,
  type ControlExecutorOptions, type ControlSettings, type HttpTarget, type SsmTarget, type TargetEntry,
} from './targets.ts';

/** Options of {@link createFailoverExecutor}. */
export interface FailoverExecutorOptions extends ControlExecutorOptions {
  /** Pause after each weight change before the target's health is read again (load takes time to show). @default 30000 */
  readonly stepSettleMs?: number;
}

interface FailoverSettings extends ControlSettings {
  readonly stepSettleMs: number;
}

/** Percent of a service's traffic per region. */
export type Weights = Readonly<Record<string, number>>;

/** One shift step as the output reports it. */
export interface FailoverStep {
  readonly percent: number;
  readonly status: 'applied' | 'already_reached';
  /** The weights after the step (`null` when an SSM document does not report them). */
  readonly weights: Weights | null;
}

/** What `steps.<id>.output` holds after a failover. */
export interface FailoverOutput {
  readonly service: string;
  readonly target: string;
  readonly backend: 'http' | 'ssm';
  readonly from: string;
  readonly to: string;
  readonly initial_weights: Weights | null;
  readonly final_weights: Weights | null;
  readonly steps: readonly FailoverStep[];
}

const resolved = z.object({ service: z.string(), from: z.string(), to: z.string(), shift: z.array(z.number()), target: z.string().optional() }, {
  error: 'expected resolved arguments (a template was left unresolved)',
});
type FailoverCall = z.output<typeof resolved>;
const weightsSchema = z.record(z.string(), z.number().int().min(0).max(100));
const weightsReply = z.object({ weights: weightsSchema });
const healthReply = z.object({ healthy: z.boolean().optional() }).loose();

/**
 * The weights after shifting `percent`% of the pair `from` + `to` onto `to` (rounded to whole
 * percents); every other region keeps its weight, so the total is unchanged. Pure.
 */
export function shiftedWeights(current: Weights, from: string, to: string, percent: number): Weights {
  const pair = (current[from] ?? 0) + (current[to] ?? 0);
  const onTarget = Math.round((pair * percent) / 100);
  return { ...current, [from]: pair - onTarget, [to]: onTarget };
}

/** Builds the `failover` executor; `plan` shows the resolved target and steps without calling it. */
export function createFailoverExecutor(options: FailoverExecutorOptions): Executor {
  const settings: FailoverSettings = { ...compileControlOptions(options), stepSettleMs: options.stepSettleMs ?? 30_000 };
  return {
    spec: builtinSpec('failover'),
    plan: (input) => planFailover(input, settings),
    run: async (input, ctx) => {
      const call = parseInput(failoverArgs.pipe(resolved), input, 'executor_input_invalid', 'failover');
      const entry = resolveTarget(settings.targets, 'services', call.service, call.target);
      ctx.logger.info({ service: call.service, from: call.from, to: call.to, shift: call.shift, target: entry.name }, 'failover: starting');
      const output = entry.target.backend === 'http'
        ? await failoverOverHttp(call, entry, entry.target, settings, ctx)
        : await failoverOverSsm(call, entry, entry.target, settings, ctx);
      ctx.logger.info({ service: call.service, final_weights: output.final_weights }, 'failover: done');
      return output;
    },
  };
}

async function failoverOverHttp(call: FailoverCall, entry: TargetEntry, target: HttpTarget, settings: FailoverSettings, ctx: ExecutorContext): Promise<FailoverOutput> {
  const api = (request: Parameters<typeof callControlApi>[3]) => callControlApi(settings, entry, target, request, ctx, 'failover');
  const path = (...rest: string[]) => ['v1', 'services', call.service, ...rest];
  const initial = readReply(weightsReply, await api({ method: 'GET', path: path('weights'), accept: [200] }), 'weights ({ weights: { region: percent } })', 'failover').weights;
  const unknown = [call.from, call.to].filter((region) => initial[region] === undefined);
  if (unknown.length > 0) {
    throw new ExecutorError('failover_region_unknown', `${call.service} has no traffic weight for ${unknown.join(' and ')} (regions: ${Object.keys(initial).join(', ')}); nothing was changed`, { retryable: false });
  }
  let current: Weights = initial;
  const steps: FailoverStep[] = [];
  for (const percent of call.shift) {
    const next = shiftedWeights(current, call.from, call.to, percent);
    if ((next[call.to] ?? 0) <= (current[call.to] ?? 0)) {
      steps.push({ percent, status: 'already_reached', weights: current });
      continue;
    }
    const isFirstChange = !steps.some((s) => s.status === 'applied');
    if (!isFirstChange) await settings.sleep(settings.stepSettleMs, ctx.signal);
    try {
      await checkHealthy(call, percent, current, isFirstChange, api, ctx);
      const reply = await api({ method: 'PUT', path: path('weights'), body: { weights: next }, idempotencyKey: `${ctx.idempotencyKey}/shift/${percent}`, accept: [200, 202, 204] });
      current = isRecord(reply.body) && reply.body['weights'] !== undefined ? readReply(weightsReply, reply, 'the weights applied', 'failover').weights : next;
    } catch (error) {
      throw withWeightsReached(error, current);
    }
    steps.push({ percent, status: 'applied', weights: current });
    ctx.logger.info({ service: call.service, percent, weights: current }, 'failover: step applied');
  }
  return { service: call.service, target: entry.name, backend: 'http', from: call.from, to: call.to, initial_weights: initial, final_weights: current, steps };
}

async function checkHealthy(call: FailoverCall, percent: number, current: Weights, isFirstChange: boolean, api: (request: Parameters<typeof callControlApi>[3]) => ReturnType<typeof callControlApi>, ctx: ExecutorContext): Promise<void> {
  const reply = await api({ method: 'GET', path: ['v1', 'services', call.service, 'regions', call.to, 'health'], accept: [200, 503] });
  const health = healthReply.safeParse(reply.body);
  const healthy = reply.status === 200 && (!health.success || health.data.healthy !== false);
  if (healthy) return;
  if (reply.status === 503 && !(health.success && health.data.healthy === false)) {
    throw new ExecutorError('failover_backend_unavailable', `${reply.what} answered 503 without a health answer ({ healthy: false, reason })`, { retryable: true });
  }
  const answer = ctx.redact(JSON.stringify(reply.body) ?? '').slice(0, 500);
  if (isFirstChange) {
    throw new ExecutorError('failover_target_unhealthy', `${call.to} is not healthy for ${call.service}, so no traffic was moved (${reply.what} answered ${reply.status}: ${answer})`, { retryable: false });
  }
  const message = `${call.to} turned unhealthy for ${call.service} before the ${percent}% step (${reply.what} answered ${reply.status}: ${answer}); stopped, traffic left at ${JSON.stringify(current)}`;
  throw new ExecutorError('failover_stopped_unhealthy', message, { retryable: false });
}

/** Adds the last weights the backend confirmed to an error (the health refusals say where traffic is already). */
function withWeightsReached(error: unknown, weights: Weights): unknown {
  if (!(error instanceof ExecutorError) || error.code === 'failover_stopped_unhealthy' || error.code === 'failover_target_unhealthy') return error;
  return new ExecutorError(error.code, `${error.message}; last confirmed weights ${JSON.stringify(weights)}`, { retryable: error.retryable, cause: error });
}

async function failoverOverSsm(call: FailoverCall, entry: TargetEntry, target: SsmTarget, settings: FailoverSettings, ctx: ExecutorContext): Promise<FailoverOutput> {
  const steps: FailoverStep[] = [];
  let initial: Weights | null = null;
  let current: Weights | null = null;
  for (const percent of call.shift) {
    const parameters = { Service: call.service, From: call.from, To: call.to, Percent: String(percent) };
    let outputs: Record<string, unknown>;
    try {
      // One execution per step, each with its own ClientToken: a redelivered attempt rejoins the steps it started.
      ({ outputs } = await runControlAutomation(settings, target, parameters, { ...ctx, idempotencyKey: `${ctx.idempotencyKey}/shift/${percent}` }));
    } catch (error) {
      const left = steps.length === 0 ? 'traffic unchanged' : `traffic left as after the ${steps.at(-1)?.percent ?? 0}% step${current ? ` (${JSON.stringify(current)})` : ''}`;
      if (!(error instanceof ExecutorError)) throw error;
      const code = error.code === 'ssm_automation_failed' ? 'failover_ssm_failed' : error.code;
      throw new ExecutorError(code, `failover of ${call.service} at the ${percent}% step via ${describeTarget(entry)} failed: ${error.message}; ${left}`, { retryable: error.retryable, cause: error });
    }
    const weights = weightsSchema.safeParse(outputs['Weights']);
    const before = weightsSchema.safeParse(outputs['InitialWeights']);
    if (steps.length === 0 && before.success) initial = before.data;
    current = weights.success ? weights.data : null;
    steps.push({ percent, status: 'applied', weights: current });
  }
  return { service: call.service, target: entry.name, backend: 'ssm', from: call.from, to: call.to, initial_weights: initial, final_weights: current, steps };
}

/** `failover model-serving us-east-1 → us-west-2 in steps 10%, 50%, 100% via http https://…`; lenient about run-time markers. */
function planFailover(input: unknown, settings: FailoverSettings): string[] {
  const args = isRecord(input) ? input : {};
  const service = describeValueForPlan(args['service']);
  const shift = Array.isArray(args['shift']) ? args['shift'].map((p) => `${describeValueForPlan(p)}%`).join(', ') : args['shift'] === undefined ? '100%' : describeValueForPlan(args['shift']);
  if ([args['service'], args['target']].some(isRuntimeValue)) return [`failover ${service} ${describeValueForPlan(args['from'])} → ${describeValueForPlan(args['to'])} in steps ${shift} via the ${settings.targets.file} entry chosen at run time`];
  let via: string;
  let how: string;
  try {
    const entry = resolveTarget(settings.targets, 'services', service, typeof args['target'] === 'string' ? args['target'] : undefined);
    via = describeTarget(entry);
    how = entry.target.backend === 'http'
      ? `reads the weights, checks ${describeValueForPlan(args['to'])} is healthy before every change (refuses if not), PUTs each step's weights with an Idempotency-Key, pauses ${settings.stepSettleMs} ms between steps`
      : `StartAutomationExecution ${entry.target.document} once per step with Service, From, To, Percent`;
  } catch (error) {
    via = `an unresolved target (${error instanceof Error ? error.message : String(error)})`;
    how = 'nothing can run until targets.yaml has an entry for it';
  }
  return [`failover ${service} ${describeValueForPlan(args['from'])} → ${describeValueForPlan(args['to'])} in steps ${shift} via ${via}`, how];
}

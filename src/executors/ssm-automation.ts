/**
 * The `ssm-automation` executor: `StartAutomationExecution`, then `GetAutomationExecution` until
 * the execution is terminal. Idempotent through SSM's own `ClientToken`, derived from the
 * idempotency key (see {@link clientTokenFor}): a redelivered call gets the same execution back
 * instead of starting a second one.
 */
import { createHash } from 'node:crypto';
import {
  GetAutomationExecutionCommand, StartAutomationExecutionCommand, StopAutomationExecutionCommand,
  type AutomationExecution, type StartAutomationExecutionCommandInput,
} from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { describeSsmError } from '../integrations/ssm.ts';
import { ExecutorError, type Executor, type ExecutorContext } from './contract.ts';
import { ssmAutomationArgs } from './specs.ts';
import { builtinSpec, capOutput, compileSsmOptions, nextInterval, parseInput, readSsm, type SsmExecutorOptions, type SsmSettings } from './ssm.ts';

/**
 * A deterministic UUID from the idempotency key, for `ClientToken` (SSM enforces the UUID
 * format). Name-based like UUID v5, but over SHA-256 instead of SHA-1: the first 16 bytes of
 * sha256(key) with the version nibble set to 5 and the RFC 4122 variant bits, so any UUID
 * validator accepts it. The same key always yields the same token; different keys practically never collide.
 */
export function clientTokenFor(idempotencyKey: string): string {
  const bytes = createHash('sha256').update(idempotencyKey).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// See the note on `resolved` in ssm.ts: templates are resolved by the time a call runs.
const resolved = z.object({
  document: z.string(),
  parameters: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  target_parameter: z.string().optional(),
  targets: z.array(z.object({ key: z.string(), values: z.array(z.string()) })).optional(),
}, { error: 'expected resolved arguments (a template was left unresolved)' });
const resolvedAutomationArgs = ssmAutomationArgs.pipe(resolved);
type AutomationCall = z.output<typeof resolved>;

/** The StartAutomationExecution request for a resolved call; pure. */
export function buildStartAutomation(call: AutomationCall, idempotencyKey: string): StartAutomationExecutionCommandInput {
  const parameters = Object.fromEntries(Object.entries(call.parameters ?? {}).map(([name, value]) => [name, Array.isArray(value) ? [...value] : [value]]));
  return {
    DocumentName: call.document,
    ClientToken: clientTokenFor(idempotencyKey),
    ...(Object.keys(parameters).length > 0 ? { Parameters: parameters } : {}),
    ...(call.target_parameter === undefined ? {} : { TargetParameterName: call.target_parameter }),
    ...(call.targets === undefined ? {} : { Targets: call.targets.map((t) => ({ Key: t.key, Values: [...t.values] })) }),
  };
}

const SUCCEEDED: ReadonlySet<string> = new Set(['Success', 'CompletedWithSuccess']);
const FAILED: ReadonlySet<string> = new Set(['Failed', 'TimedOut', 'Cancelled', 'CompletedWithFailure', 'Rejected', 'ChangeCalendarOverrideRejected', 'Exited']);

/**
 * Builds the `ssm-automation` executor. Output: `{ executionId, document, status, outputs, steps }`
 * (values redacted and capped). Fails with `ssm_automation_failed` (not retryable) when the
 * execution ends in any status but success, `ssm_idempotency_mismatch` when the key's token was
 * used with other parameters.
 */
export function createSsmAutomationExecutor(options: SsmExecutorOptions = {}): Executor {
  const settings = compileSsmOptions(options);
  return {
    spec: builtinSpec('ssm-automation'),
    plan: (input) => planAutomation(parseInput(resolvedAutomationArgs, input, 'ssm_input_invalid', 'ssm-automation')),
    run: async (input, ctx) => {
      const call = parseInput(resolvedAutomationArgs, input, 'ssm_input_invalid', 'ssm-automation');
      const request = buildStartAutomation(call, ctx.idempotencyKey);
      // ClientToken makes the start idempotent, so it may be retried like a read.
      const started = await readSsm(settings, ctx, 'StartAutomationExecution', () =>
        settings.client.send(new StartAutomationExecutionCommand(request), { abortSignal: ctx.signal }).catch((error: unknown) => {
          if (!(error instanceof Error && error.name === 'IdempotentParameterMismatch')) throw error;
          const message = `ssm-automation: ClientToken ${request.ClientToken ?? ''} (this attempt's key) was already used with other parameters`;
          throw new ExecutorError('ssm_idempotency_mismatch', message, { retryable: false, cause: error });
        }),
      );
      const executionId = started.AutomationExecutionId;
      if (!executionId) throw new ExecutorError('ssm_unavailable', 'StartAutomationExecution answered without an execution id', { retryable: true });
      ctx.logger.info({ executionId, document: call.document }, 'started (or rejoined) SSM automation');
      try {
        return report(call, await pollAutomation(settings, executionId, ctx), settings, ctx);
      } catch (error) {
        if (ctx.signal.aborted && settings.cancelOnAbort) await stopQuietly(settings, executionId, ctx);
        throw error;
      }
    },
  };
}

function planAutomation(call: AutomationCall): string[] {
  const over = call.targets ? ` over ${call.targets.map((t) => `${t.key}=${t.values.join(',')}`).join(' and ')} as ${call.target_parameter ?? '?'}` : '';
  const lines = [`StartAutomationExecution ${call.document}${over}`];
  for (const [name, value] of Object.entries(call.parameters ?? {})) lines.push(`${name}: ${JSON.stringify(Array.isArray(value) ? value : [value])}`);
  return lines;
}

async function pollAutomation(settings: SsmSettings, executionId: string, ctx: ExecutorContext): Promise<AutomationExecution> {
  let intervalMs = settings.pollIntervalMs;
  for (;;) {
    await settings.sleep(intervalMs, ctx.signal);
    const reply = await readSsm(settings, ctx, 'GetAutomationExecution', () =>
      settings.client.send(new GetAutomationExecutionCommand({ AutomationExecutionId: executionId }), { abortSignal: ctx.signal }),
    );
    const execution = reply.AutomationExecution;
    const status = execution?.AutomationExecutionStatus ?? '';
    if (execution && (SUCCEEDED.has(status) || FAILED.has(status))) return execution;
    intervalMs = nextInterval(settings, intervalMs);
  }
}

function report(call: AutomationCall, execution: AutomationExecution, settings: SsmSettings, ctx: ExecutorContext): unknown {
  const capValues = (values: Record<string, string[]> | undefined) =>
    Object.fromEntries(Object.entries(values ?? {}).map(([name, list]) => [name, list.map((v) => capOutput(v, settings.maxOutputChars, ctx).text)]));
  const steps = (execution.StepExecutions ?? []).map((step) => ({
    name: step.StepName ?? '', action: step.Action ?? '', status: step.StepStatus ?? '', outputs: capValues(step.Outputs),
    ...(step.FailureMessage ? { failureMessage: ctx.redact(step.FailureMessage).slice(0, 1_000) } : {}),
  }));
  const status = execution.AutomationExecutionStatus ?? 'Unknown';
  const executionId = execution.AutomationExecutionId ?? '';
  if (!SUCCEEDED.has(status)) {
    const failedSteps = steps.filter((s) => s.failureMessage).map((s) => `${s.name}: ${s.failureMessage ?? ''}`);
    const why = [execution.FailureMessage ? ctx.redact(execution.FailureMessage) : '', ...failedSteps].filter(Boolean).join('; ');
    const message = `SSM automation ${executionId} (${call.document}) ended ${status}${why ? `: ${why}` : ''}`;
    throw new ExecutorError('ssm_automation_failed', message.slice(0, 2_000), { retryable: false });
  }
  return { executionId, document: call.document, status, outputs: capValues(execution.Outputs), steps };
}

async function stopQuietly(settings: SsmSettings, executionId: string, ctx: ExecutorContext): Promise<void> {
  try {
    await settings.client.send(new StopAutomationExecutionCommand({ AutomationExecutionId: executionId }), { abortSignal: AbortSignal.timeout(5_000) });
    ctx.logger.info({ executionId }, 'stopped the SSM automation after abort');
  } catch (error) {
    ctx.logger.warn({ executionId, error: ctx.redact(describeSsmError(error)) }, 'could not stop the SSM automation after abort');
  }
}

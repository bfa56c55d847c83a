/**
 * Builds the IR of each step from its parsed node: the executor call and its arguments, the
 * reserved step keys (`timeout`, `retries`, `backoff`, `on_failure`, `when`, `undo`, `read_only`),
 * and the approval gate of `approve` steps. Reports every problem it meets.
 */
import { z } from 'zod';
import { describeFound, type Diagnostic, type SourceLocation } from './diagnostics.ts';
import { DURATION_EXPECTATION, parseDuration } from './durations.ts';
import { isMutatingCall, isReservedStepKey, type ExecutorCatalog, type ExecutorSpec } from './executor-spec.ts';
import { approvalGateSchema, type ApprovalGateInput } from './front-matter.ts';
import type { ApprovalGate, Backoff, EscalationRung, OnFailure, Step, StepCall } from './ir.ts';
import type { StepNode } from './parse.ts';
import { diagnosticsFromZod } from './schema-diagnostics.ts';
import type { YamlPath, YamlSource } from './yaml-source.ts';

/** Retry delay when a step sets `retries` but no `backoff`. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 5_000, factor: 2, maxMs: 300_000 };
export const MAX_RETRIES = 20;

const backoffObjectSchema = z.strictObject({
  initial: z.string(),
  factor: z.number().min(1).max(10).default(2),
  max: z.string().optional(),
});

interface BlockContext {
  readonly yaml: YamlSource;
  readonly diagnostics: Diagnostic[];
  readonly stepId: string;
}

/** Step ids are used in templates, Slack action ids and job ids. */
export const STEP_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function buildStep(node: StepNode, catalog: ExecutorCatalog, gate: ApprovalGate | undefined, diagnostics: Diagnostic[]): Step {
  const base = { id: node.id, title: node.title, instructions: node.instructions, location: node.location };
  if (node.hasExplicitId && !STEP_ID.test(node.id)) {
    diagnostics.push({
      severity: 'error',
      code: 'invalid-step-id',
      message: `step id \`${node.id}\` cannot be used in templates and job ids`,
      location: node.location,
      expected: 'lowercase letters, digits, `-` and `_`, starting with a letter or digit (at most 64)',
      found: describeFound(node.id),
    });
  }
  for (const extra of node.blocks.slice(1)) {
    diagnostics.push({
      severity: 'error',
      code: 'multiple-executable-blocks',
      message: `step \`${node.id}\` has more than one executable block; a step makes one call`,
      location: extra.location,
      expected: 'one executable block per step (split the step in two)',
      found: `a second \`${extra.executor}\` block`,
    });
  }
  const block = node.blocks[0];
  const manual = { ...base, kind: 'manual', mutating: false, retries: 0, backoff: DEFAULT_BACKOFF, onFailure: { kind: 'abort' } } as const;
  if (!block) return manual;
  const spec = catalog.get(block.executor);
  if (!spec || block.yaml.value === undefined && block.yaml.diagnostics.length > 0) {
    diagnostics.push(...block.yaml.diagnostics);
    return manual;
  }
  const context: BlockContext = { yaml: block.yaml, diagnostics, stepId: node.id };
  const body = block.yaml.value ?? {};
  if (!isRecord(body)) {
    diagnostics.push({
      severity: 'error',
      code: 'executor-arguments',
      message: `the \`${spec.name}\` block of step \`${node.id}\` must be a YAML mapping of arguments`,
      location: block.location,
      expected: 'key: value lines',
      found: describeFound(body),
    });
    return manual;
  }
  const args: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!isReservedStepKey(key)) args[key] = value;
  const call = readCall(spec, args, [], context);
  const readOnly = readBoolean(body, 'read_only', context);
  const mutating = readOnly === true ? false : (call?.mutating ?? false);
  const step: Step = {
    ...base,
    kind: spec.kind,
    call: call ? { ...call, mutating } : undefined,
    mutating,
    timeoutMs: readDuration(body, 'timeout', context),
    retries: readRetries(body, context),
    backoff: readBackoff(body, context),
    onFailure: readOnFailure(body, context),
    when: readWhen(body, context),
    undo: readUndo(body, spec, catalog, context),
  };
  if (spec.kind === 'approval') return { ...step, approval: readApproval(args, gate, context) };
  if (spec.kind === 'wait' && typeof args['for'] === 'string') {
    return { ...step, waitMs: parseDuration(args['for']) };
  }
  return step;
}

function readCall(spec: ExecutorSpec, args: Record<string, unknown>, path: YamlPath, context: BlockContext): StepCall | undefined {
  const parsed = spec.args.safeParse(args);
  if (!parsed.success) {
    context.diagnostics.push(
      ...diagnosticsFromZod(parsed.error, {
        yaml: context.yaml,
        base: path,
        value: args,
        subject: `executor \`${spec.name}\` in step \`${context.stepId}\``,
        code: 'executor-arguments',
        schema: spec.args,
      }),
    );
    return undefined;
  }
  const output = isRecord(parsed.data) ? parsed.data : args;
  return { executor: spec.name, args: output, mutating: isMutatingCall(spec, output) };
}

function readUndo(body: Record<string, unknown>, spec: ExecutorSpec, catalog: ExecutorCatalog, context: BlockContext): StepCall | undefined {
  const undo = body['undo'];
  if (undo === undefined) return undefined;
  if (!isRecord(undo)) {
    push(context, ['undo'], 'invalid-undo', `\`undo\` of step \`${context.stepId}\` must be a mapping of arguments`, 'a mapping, optionally with `executor:`', undo);
    return undefined;
  }
  const name = typeof undo['executor'] === 'string' ? undo['executor'] : spec.name;
  const target = catalog.get(name);
  if (!target || target.kind !== 'call') {
    const known = [...catalog.values()].filter((s) => s.kind === 'call').map((s) => `\`${s.name}\``);
    push(context, ['undo', 'executor'], 'unknown-executor', `\`undo\` of step \`${context.stepId}\` names no executor that can be called`, `one of ${known.join(', ')}`, name);
    return undefined;
  }
  const args = Object.fromEntries(Object.entries(undo).filter(([key]) => key !== 'executor'));
  // An undo for the same executor inherits the call's arguments and overrides some (`to:`).
  const original = name === spec.name ? Object.fromEntries(Object.entries(body).filter(([k]) => !isReservedStepKey(k))) : {};
  return readCall(target, { ...original, ...args }, ['undo'], context);
}

function readApproval(args: Record<string, unknown>, gate: ApprovalGate | undefined, context: BlockContext): ApprovalGate | undefined {
  for (const [key, value] of Object.entries(args)) {
    if (key !== 'message' && JSON.stringify(value)?.includes('{{')) {
      push(context, [key], 'templated-approval', `approval \`${key}\` of step \`${context.stepId}\` must be written out, not templated: who may approve cannot depend on the request`, 'a literal value', value);
      return undefined;
    }
  }
  const inherited = gate ? toGateInput(gate) : {};
  const parsed = approvalGateSchema.safeParse({ ...inherited, ...args });
  if (!parsed.success) return undefined; // the executor's own schema has reported it
  return toApprovalGate(parsed.data);
}

export function toApprovalGate(input: ApprovalGateInput): ApprovalGate {
  return {
    message: input.message,
    quorum: input.quorum,
    from: input.from,
    allowSelf: input.allow_self,
    expiresMs: input.expires,
    onExpiry: input.on_expiry,
    escalation: toEscalationRungs(input.escalation),
  };
}

/** Front-matter rungs (`after: 10m`) → IR rungs (`afterMs`). */
export function toEscalationRungs(rungs: ApprovalGateInput['escalation']): EscalationRung[] {
  return rungs.map((rung) => ({
    afterMs: rung.after,
    notify: rung.notify,
    page: rung.page ? { escalationPolicy: rung.page.escalation_policy, service: rung.page.service } : undefined,
  }));
}

function toGateInput(gate: ApprovalGate): Record<string, unknown> {
  const input: Record<string, unknown> = { quorum: gate.quorum, from: gate.from, allow_self: gate.allowSelf, on_expiry: gate.onExpiry };
  if (gate.expiresMs !== undefined) input['expires'] = `${gate.expiresMs}ms`;
  if (gate.escalation.length > 0) {
    input['escalation'] = gate.escalation.map((r) => ({
      after: `${r.afterMs}ms`,
      ...(r.notify ? { notify: r.notify } : {}),
      ...(r.page ? { page: { escalation_policy: r.page.escalationPolicy, service: r.page.service } } : {}),
    }));
  }
  return input;
}

function readDuration(body: Record<string, unknown>, key: string, context: BlockContext): number | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || ms === 0) {
    push(context, [key], 'invalid-duration', `\`${key}\` of step \`${context.stepId}\` is not a duration`, DURATION_EXPECTATION, value);
  }
  return ms;
}

function readRetries(body: Record<string, unknown>, context: BlockContext): number {
  const value = body['retries'];
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_RETRIES) return value;
  push(context, ['retries'], 'invalid-retries', `\`retries\` of step \`${context.stepId}\` is not a retry count`, `a whole number from 0 to ${MAX_RETRIES}`, value);
  return 0;
}

function readBackoff(body: Record<string, unknown>, context: BlockContext): Backoff {
  const value = body['backoff'];
  if (value === undefined) return DEFAULT_BACKOFF;
  if (typeof value === 'string') {
    const initialMs = readDuration(body, 'backoff', context);
    return initialMs === undefined ? DEFAULT_BACKOFF : { ...DEFAULT_BACKOFF, initialMs };
  }
  const parsed = backoffObjectSchema.safeParse(value);
  const initialMs = parsed.success ? parseDuration(parsed.data.initial) : undefined;
  const maxMs = parsed.success && parsed.data.max !== undefined ? parseDuration(parsed.data.max) : DEFAULT_BACKOFF.maxMs;
  if (!parsed.success || initialMs === undefined || maxMs === undefined) {
    push(context, ['backoff'], 'invalid-backoff', `\`backoff\` of step \`${context.stepId}\` is not a backoff`, `${DURATION_EXPECTATION}, or { initial: 5s, factor: 2, max: 5m }`, value);
    return DEFAULT_BACKOFF;
  }
  return { initialMs, factor: parsed.data.factor, maxMs };
}

function readOnFailure(body: Record<string, unknown>, context: BlockContext): OnFailure {
  const value = body['on_failure'];
  if (value === undefined || value === 'abort') return { kind: 'abort' };
  if (value === 'continue' || value === 'rollback') return { kind: value };
  if (typeof value === 'string' && STEP_ID.test(value)) return { kind: 'goto', stepId: value };
  push(context, ['on_failure'], 'invalid-on-failure', `\`on_failure\` of step \`${context.stepId}\` is not understood`, '`abort`, `continue`, `rollback` or a step id', value);
  return { kind: 'abort' };
}

function readWhen(body: Record<string, unknown>, context: BlockContext): string | undefined {
  const value = body['when'];
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string' && value.trim() !== '') return value;
  push(context, ['when'], 'invalid-when', `\`when\` of step \`${context.stepId}\` is not a condition`, 'an expression such as `steps.check.output.healthy == false`', value);
  return undefined;
}

function readBoolean(body: Record<string, unknown>, key: string, context: BlockContext): boolean | undefined {
  const value = body[key];
  if (value === undefined || typeof value === 'boolean') return value;
  push(context, [key], 'invalid-step-key', `\`${key}\` of step \`${context.stepId}\` must be true or false`, '`true` or `false`', value);
  return undefined;
}

function push(context: BlockContext, path: YamlPath, code: string, message: string, expected: string, found: unknown): void {
  const location: SourceLocation = context.yaml.locate(path);
  context.diagnostics.push({ severity: 'error', code, message, location, expected, found: describeFound(found) });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

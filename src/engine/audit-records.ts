/**
 * What the audit log says about a transition: the event that caused it (who did what) and the
 * effects it is about to perform (step started with its input, approval requested, run finished).
 * Written to the outbox with the transition, appended before any effect is dispatched.
 */
import { prepareAuditRecords, type AuditRecordInput } from '../audit/index.ts';
import { EngineError } from './errors.ts';
import type { Effect, RunEvent } from '../machines/run-types.ts';

export interface RecordContext {
  readonly runId: string;
  readonly version: number;
  readonly at: number;
  readonly runbookId: string;
  readonly runbookHash: string;
  readonly incidentId?: string;
  /** Values of params marked `secret`: replaced wherever they appear. */
  readonly secrets: readonly string[];
}

const EVENT_TYPES: Readonly<Record<RunEvent['type'], string>> = {
  'step.succeeded': 'step.succeeded',
  'step.failed': 'step.failed',
  'approval.granted': 'approval.granted',
  'approval.rejected': 'approval.rejected',
  'manual.done': 'manual.done',
  'manual.skipped': 'manual.skipped',
  'timer.fired': 'timer.fired',
  'run.cancel': 'run.cancel_requested',
};

const EFFECT_TYPES: Partial<Readonly<Record<Effect['kind'], string>>> = {
  'step.run': 'step.started',
  'step.abort': 'step.aborted',
  'step.skipped': 'step.skipped',
  'approval.request': 'approval.requested',
  'approval.recorded': 'approval.recorded',
  'approval.closed': 'approval.closed',
  'manual.request': 'manual.requested',
  'manual.closed': 'manual.closed',
  'timer.schedule': 'timer.scheduled',
  'timer.cancel': 'timer.cancelled',
  // The effect carries the rung, what it waited for and its targets (who is reminded, what is paged).
  'escalation.fire': 'escalation.fired',
  'run.finished': 'run.finished',
};

export function actorOf(event: RunEvent): string {
  if ('by' in event) return event.by.id;
  return 'system';
}

function base(context: RecordContext, index: number, actor: string, type: string, data: unknown): AuditRecordInput {
  return {
    id: `${context.runId}.${context.version}.${index}`,
    at: context.at,
    runId: context.runId,
    ...(context.incidentId ? { incidentId: context.incidentId } : {}),
    actor,
    type,
    data: redactValues(data, context.secrets),
    runbookId: context.runbookId,
    runbookHash: context.runbookHash,
  };
}

/** Records for a transition caused by `event` (or the run's start when undefined). */
export function recordsFor(context: RecordContext, event: RunEvent | { type: 'run.started'; actor: string; data: unknown }, effects: readonly Effect[]): AuditRecordInput[] {
  const records: AuditRecordInput[] = [];
  if (event.type === 'run.started') records.push(base(context, 0, event.actor, 'run.started', event.data));
  else records.push(base(context, 0, actorOf(event), EVENT_TYPES[event.type], event));
  effects.forEach((effect, i) => {
    const type = EFFECT_TYPES[effect.kind];
    if (type) records.push(base(context, i + 1, 'system', type, effect));
  });
  return records;
}

/** A record of an event that changed nothing (stale attempt, duplicate click, finished run). */
export function ignoredRecord(context: RecordContext, event: RunEvent, reason: string, fingerprint: string): AuditRecordInput {
  return { ...base(context, 0, actorOf(event), 'event.ignored', { reason, event }), id: `${context.runId}.ignored.${fingerprint}` };
}

/** Replaces every occurrence of a secret value in strings of `value`. */
export function redactValues(value: unknown, secrets: readonly string[]): unknown {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return secrets.reduce((text, secret) => (secret ? text.split(secret).join('[redacted]') : text), value);
  if (Array.isArray(value)) return value.map((item) => redactValues(item, secrets));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValues(v, secrets)]));
  return value;
}

/**
 * Refuses, before anything is committed, a transition whose audit records the store would refuse
 * (an actor that is not a Slack id, `pagerduty`, `cli:<user>` or `system`, say): committed, such an
 * outbox entry could never drain and would block the run or incident for good.
 */
export function assertRecordable(records: readonly AuditRecordInput[]): void {
  try {
    prepareAuditRecords(records);
  } catch (error) {
    throw new EngineError('event_invalid', `not applied: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

import { CanonicalJsonError, canonicalJson } from './canonical-json.ts';
import { AuditStoreError } from './errors.ts';
import type { AuditRecordInput } from './record.ts';
import { redactSecrets } from './redact.ts';

const MAX_TEXT_LENGTH = 256;
const EVENT_TYPE = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*$/;
const OPTIONAL_TEXT_FIELDS = ['runId', 'incidentId', 'runbookId', 'runbookHash'] as const;
/** `system`, `pagerduty`, `cli:<user>`, or a Slack user id (`U…`, Enterprise Grid `W…`, bot `B…`). */
const ACTOR = /^(?:system|pagerduty|cli:[^\s:][^\s]*|[UWB][A-Z0-9]{1,}[A-Za-z0-9_-]*)$/;

/** Whether `actor` names who caused a record in one of the four meaningful forms (see {@link ACTOR}). */
export function isAuditActor(actor: unknown): actor is string {
  return typeof actor === 'string' && actor.length <= MAX_TEXT_LENGTH && ACTOR.test(actor);
}

/**
 * Validates a batch and returns it ready to seal: unknown properties and `undefined` optionals
 * dropped, `data` redacted and normalised to plain JSON (`undefined` becomes `null`, `toJSON()`
 * applied), so the record the store returns equals the one it later reads back.
 *
 * @throws AuditStoreError `audit_record_invalid`, listing every problem in the batch at once.
 */
export function prepareAuditRecords(records: readonly AuditRecordInput[]): AuditRecordInput[] {
  if (!Array.isArray(records)) {
    throw new AuditStoreError('audit_record_invalid', `append: expected an array of audit records, received ${describe(records)}`);
  }
  const problems: string[] = [];
  const prepared = records.map((record: unknown, index) => prepareRecord(record, `records[${index}]`, problems));
  if (problems.length > 0) {
    const shown = problems.slice(0, 20).join('\n  ');
    const more = problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : '';
    throw new AuditStoreError('audit_record_invalid', `append: ${problems.length} invalid audit record field(s); nothing was appended:\n  ${shown}${more}`);
  }
  return prepared;
}

function prepareRecord(value: unknown, where: string, problems: string[]): AuditRecordInput {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${where}: expected an object like { id, at, actor, type, data }, received ${describe(value)}`);
    return { id: '', at: 0, actor: '', type: '', data: null };
  }
  const record = value as Partial<Record<keyof AuditRecordInput, unknown>>;
  const before = problems.length;
  checkText(record.id, `${where}.id`, 'a non-empty id such as "run-42.3.0"', problems);
  if (typeof record.at !== 'number' || !Number.isSafeInteger(record.at) || record.at < 0) {
    problems.push(`${where}.at: expected epoch milliseconds (a non-negative integer), received ${describe(record.at)}`);
  }
  if (!isAuditActor(record.actor)) {
    problems.push(`${where}.actor: expected who caused it: a Slack user id such as 'U024BE7LH', 'pagerduty', 'cli:<user>' or 'system', received ${describe(record.actor)}`);
  }
  if (typeof record.type !== 'string' || record.type.length > MAX_TEXT_LENGTH || !EVENT_TYPE.test(record.type)) {
    problems.push(`${where}.type: expected a dotted lowercase event type such as 'step.succeeded', received ${describe(record.type)}`);
  }
  for (const field of OPTIONAL_TEXT_FIELDS) {
    if (record[field] !== undefined) checkText(record[field], `${where}.${field}`, 'a non-empty string, or the field left out', problems);
  }
  const data = prepareData(record.data, `${where}.data`, problems);
  if (problems.length > before) return { id: '', at: 0, actor: '', type: '', data: null };
  const input = record as AuditRecordInput;
  return {
    id: input.id, at: input.at, actor: input.actor, type: input.type, data,
    ...(input.runId === undefined ? {} : { runId: input.runId }),
    ...(input.incidentId === undefined ? {} : { incidentId: input.incidentId }),
    ...(input.runbookId === undefined ? {} : { runbookId: input.runbookId }),
    ...(input.runbookHash === undefined ? {} : { runbookHash: input.runbookHash }),
  };
}

/** Plain JSON first (so redaction sees what will be stored), then redaction. */
function prepareData(data: unknown, where: string, problems: string[]): unknown {
  if (data === undefined) return null;
  try {
    return redactSecrets(JSON.parse(canonicalJson(data)));
  } catch (error) {
    if (!(error instanceof CanonicalJsonError)) throw error;
    // The path locates the problem without echoing the (possibly secret) value.
    problems.push(`${where}: expected plain JSON; at ${error.message}`);
    return null;
  }
}

function checkText(value: unknown, where: string, expected: string, problems: string[]): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT_LENGTH) {
    problems.push(`${where}: expected ${expected} (at most ${MAX_TEXT_LENGTH} characters), received ${describe(value)}`);
  }
}

/** A short, safe description of a received value for error messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(redactSecrets(value)) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

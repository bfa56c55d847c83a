/**
 * How `runbook audit` prints records: one-line text, JSON Lines, CSV (RFC 4180 quoting), Markdown
 * table rows, and the readable timeline of one run for `audit show`. Pure functions.
 */
import type { AuditRecord, AuditRunSummary, VerifyResult } from '../../audit/index.ts';

const CSV_COLUMNS = ['seq', 'at', 'time', 'run_id', 'incident_id', 'actor', 'type', 'runbook_id', 'runbook_hash', 'cost_center', 'cost', 'data', 'prev_hash', 'hash'] as const;

/** ISO time of epoch ms. */
export function isoTime(at: number): string {
  return new Date(at).toISOString();
}

/** A value as one line of text for people, cut to `max` characters. */
export function brief(value: unknown, max = 160): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** One line per record for `audit list`. */
export function formatRecordLine(record: AuditRecord): string {
  return `${String(record.seq).padStart(6)}  ${isoTime(record.at)}  ${record.actor.padEnd(12)}  ${record.type.padEnd(20)}  ${record.runId ?? '-'}  ${brief(summaryOf(record), 100)}\n`;
}

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The CSV header line. */
export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One CSV row; `data` is its JSON text. */
export function csvRow(record: AuditRecord): string {
  const values: Record<(typeof CSV_COLUMNS)[number], string> = {
    seq: String(record.seq), at: String(record.at), time: isoTime(record.at), run_id: record.runId ?? '', incident_id: record.incidentId ?? '',
    actor: record.actor, type: record.type, runbook_id: record.runbookId ?? '', runbook_hash: record.runbookHash ?? '',
    ...costColumns(record), data: JSON.stringify(record.data), prev_hash: record.prevHash, hash: record.hash,
  };
  return `${CSV_COLUMNS.map((column) => csvField(values[column])).join(',')}\r\n`;
}

/**
 * Cost attribution: a run's `cost_center` (on its `run.started` record) and what a step's call
 * consumed (`cost` on `step.succeeded`, e.g. `120 instance_seconds`), as their own columns so a
 * spreadsheet can sum them without parsing `data`.
 */
export function costColumns(record: AuditRecord): { cost_center: string; cost: string } {
  const data = typeof record.data === 'object' && record.data !== null ? (record.data as Record<string, unknown>) : {};
  const center = typeof data['costCenter'] === 'string' ? data['costCenter'] : '';
  const cost = Array.isArray(data['cost'])
    ? (data['cost'] as unknown[]).flatMap((c) => {
      const entry = c as { unit?: unknown; amount?: unknown };
      return typeof entry.unit === 'string' && typeof entry.amount === 'number' ? [`${Math.round(entry.amount * 1_000) / 1_000} ${entry.unit}`] : [];
    }).join('; ')
    : '';
  return { cost_center: center, cost };
}

/** The Markdown table header. */
export function markdownHeader(): string {
  return '| seq | time | run | actor | type | details | hash |\n| ---: | --- | --- | --- | --- | --- | --- |\n';
}

/** One Markdown table row, with `|`, backslashes, HTML and newlines neutralised. */
export function markdownRow(record: AuditRecord): string {
  const cell = (text: string) => text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, ' ');
  return `| ${record.seq} | ${isoTime(record.at)} | ${cell(record.runId ?? '')} | ${cell(record.actor)} | ${cell(record.type)} | ${cell(brief(summaryOf(record), 200))} | ${record.hash.slice(0, 12)} |\n`;
}

/** The readable timeline of one run (`audit show`). */
export function formatTimeline(runId: string, records: readonly AuditRecord[]): string {
  const first = records[0];
  const lines = [`Run ${runId}`];
  if (first?.runbookId) lines.push(`  runbook     ${first.runbookId}  (source sha256 ${first.runbookHash ?? 'unknown'})`);
  if (first?.incidentId) lines.push(`  incident    ${first.incidentId}`);
  const finished = records.find((r) => r.type === 'run.finished');
  lines.push(`  final state ${finished ? String(field(finished.data, 'status') ?? 'finished') : 'still active (no run.finished record)'}`, '');
  for (const record of records) {
    const detail = timelineDetail(record);
    if (detail === undefined) continue;
    lines.push(`${isoTime(record.at)}  #${record.seq}  ${record.actor}  ${detail}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The text of `audit verify`. */
export function formatVerify(result: VerifyResult, hasKey: boolean): string {
  const lines: string[] = [];
  if (result.ok) lines.push(`ok: ${result.count} record(s) verified: every hash and link${hasKey ? ' and digest signature' : ''} holds`);
  else lines.push(`TAMPERED: first bad record seq ${result.firstBadSeq} (${result.reason}): ${result.detail}`, `  ${result.count} record(s) before it verified`);
  if (result.digests) lines.push(`  digests: ${result.digests.checked} signature(s) checked, ${result.digests.unchecked} unchecked${result.digests.lastSeq === undefined ? '' : `, last at seq ${result.digests.lastSeq}`}`);
  if (!hasKey) lines.push('warning: no AUDIT_SIGNING_KEY (or AUDIT_VERIFY_KEY): digest signatures were not checked, and without digests a cut-off tail cannot be detected');
  return `${lines.join('\n')}\n`;
}

/** One line per run for `audit list --runs`. */
export function formatRunLine(run: AuditRunSummary): string {
  return `${run.runId}  ${run.runbookId ?? '-'}  ${run.status}  requested by ${run.requester} at ${isoTime(run.startedAt)}${run.finishedAt === undefined ? '' : `, finished ${isoTime(run.finishedAt)}`}${run.incidentId ? `  incident ${run.incidentId}` : ''}\n`;
}

function timelineDetail(record: AuditRecord): string | undefined {
  const data = record.data;
  const step = field(data, 'stepId');
  switch (record.type) {
    case 'run.started':
      return `requested ${String(field(data, 'runbook') ?? record.runbookId)} with params ${brief(field(data, 'params') ?? {}, 300)}`;
    case 'step.started':
      return `step ${String(step)} (${String(field(data, 'phase'))}, attempt ${String(field(data, 'attempt'))}) called ${String(field(data, 'executor'))} with ${brief(field(data, 'input') ?? null, 300)}`;
    case 'step.succeeded':
      return `step ${String(step)} succeeded, output ${brief(field(data, 'output') ?? null, 300)}`;
    case 'step.failed':
      return `step ${String(step)} failed: ${brief(field(data, 'error') ?? null, 300)}`;
    case 'approval.requested':
      return `approval requested at ${String(step)}: ${brief(field(data, 'message') ?? '', 200)}`;
    case 'approval.granted':
      return `APPROVED ${String(step)}`;
    case 'approval.rejected':
      return `REJECTED ${String(step)}${field(data, 'reason') ? `: ${brief(field(data, 'reason'))}` : ''}`;
    case 'approval.recorded':
      return `approval of ${String(step)} counted: ${String(field(data, 'count'))} of ${String(field(data, 'quorum'))}`;
    case 'approval.closed':
      return `approval of ${String(step)} closed: ${String(field(data, 'outcome'))}`;
    case 'manual.done': case 'manual.skipped':
      return `${record.type === 'manual.done' ? 'marked done' : 'skipped'} ${String(step)}`;
    case 'run.cancel_requested':
      return `asked to cancel${field(data, 'reason') ? `: ${brief(field(data, 'reason'))}` : ''}`;
    case 'run.finished':
      return `run finished: ${String(field(data, 'status'))}`;
    case 'timer.scheduled': case 'timer.cancelled': case 'timer.fired':
      return undefined;
    default:
      return `${record.type} ${brief(data, 200)}`;
  }
}

function summaryOf(record: AuditRecord): unknown {
  const data = record.data;
  if (record.type === 'run.started') return { runbook: field(data, 'runbook'), params: field(data, 'params') };
  if (record.type === 'step.started') return { step: field(data, 'stepId'), executor: field(data, 'executor'), input: field(data, 'input') };
  return data;
}

function field(data: unknown, key: string): unknown {
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>)[key] : undefined;
}

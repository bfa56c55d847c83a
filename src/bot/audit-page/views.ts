/**
 * The reviewer pages, as pure functions of audit data: the runs list with its filters, and one run's timeline (who asked, with which params, under which runbook version, who
 * approved, what each executor was asked and answered). No scripts at all: filtering is a GET
 * form, so the pages work under `default-src 'none'`.
 */
import type { AuditRecord } from '../../audit/index.ts';
import { html, raw, type SafeHtml } from '../../shared/html.ts';

/** One run as the list shows it, derived from its `run.started` and `run.finished` records. */
export interface RunRow {
  readonly runId: string;
  readonly runbookId: string;
  readonly runbookHash: string;
  readonly requester: string;
  readonly startedAt: number;
  readonly finishedAt?: number;
  readonly status: string;
  readonly incidentId?: string;
}

/** The runs list's filters, as they came in the query string (already length-capped). */
export interface RunFilters {
  readonly runbook?: string;
  readonly actor?: string;
  readonly status?: string;
  readonly incident?: string;
  readonly since?: string;
  readonly until?: string;
}

/** What `verify()` said, for the banner. */
export type VerificationView =
  | { readonly ok: true; readonly count: number; readonly checkedAt: number; readonly note?: string }
  | { readonly ok: false; readonly count: number; readonly checkedAt: number; readonly firstBadSeq: number; readonly reason: string; readonly detail: string };

const STYLESHEET = '/audit/static/style.css';

function layout(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Runbook Bot audit</title>
<link rel="stylesheet" href="${STYLESHEET}">
</head>
<body>
<header class="top"><a href="/audit" class="brand">Runbook Bot · audit log</a><span class="readonly">read-only</span></header>
<main>${body}</main>
</body>
</html>`.value;
}

function verificationBanner(v: VerificationView): SafeHtml {
  const when = isoTime(v.checkedAt);
  if (v.ok) {
    return html`<p class="verify ok" data-verified="true">✔ Chain verified: ${v.count} records intact (checked ${when})${v.note ? html` · ${v.note}` : ''}</p>`;
  }
  return html`<p class="verify bad" data-verified="false">✘ Chain verification FAILED at record ${v.firstBadSeq} (${v.reason}): ${v.detail}. ${v.count} records before it are intact (checked ${when}).</p>`;
}

/** The runs list. */
export function runsPage(rows: readonly RunRow[], filters: RunFilters, verification: VerificationView, truncated: boolean): string {
  const field = (name: keyof RunFilters, label: string, placeholder: string) =>
    html`<label>${label}<input name="${name}" value="${filters[name] ?? ''}" placeholder="${placeholder}"></label>`;
  return layout('Runs', html`
${verificationBanner(verification)}
<h1>Runs</h1>
<form class="filters" method="get" action="/audit">
  ${field('runbook', 'Runbook', 'rollback-model')}
  ${field('actor', 'Requested by', 'U024BE7LH or cli:alice')}
  <label>Status<select name="status">${['', 'active', 'succeeded', 'failed', 'rejected', 'cancelled', 'rolled_back'].map((s) => html`<option value="${s}"${s === (filters.status ?? '') ? raw(' selected') : ''}>${s || 'any'}</option>`)}</select></label>
  ${field('incident', 'Incident', 'INC-12')}
  ${field('since', 'Since', '2026-11-01')}
  ${field('until', 'Until', '2026-11-30T23:59:59Z')}
  <button type="submit">Filter</button> <a href="/audit">clear</a>
</form>
<table class="runs">
<thead><tr><th>Started (UTC)</th><th>Run</th><th>Runbook</th><th>Requested by</th><th>Status</th><th>Incident</th></tr></thead>
<tbody>
${rows.length === 0 ? html`<tr><td colspan="6" class="empty">No runs match these filters.</td></tr>` : ''}
${rows.map((r) => html`<tr data-run="${r.runId}">
<td>${isoTime(r.startedAt)}</td>
<td><a href="/audit/runs/${encodeURIComponent(r.runId)}">${r.runId}</a></td>
<td>${r.runbookId} <span class="hash" title="runbook source sha256">${r.runbookHash.slice(0, 12)}</span></td>
<td>${r.requester}</td>
<td><span class="status s-${r.status}">${r.status}</span></td>
<td>${r.incidentId ?? ''}</td>
</tr>`)}
</tbody>
</table>
${truncated ? html`<p class="note">Showing the newest ${rows.length} runs; narrow the filters to see older ones.</p>` : ''}`);
}

/** One run's timeline. `records` are the run's audit records in seq order. */
export function runPage(runId: string, records: readonly AuditRecord[], verification: VerificationView): string {
  const started = records.find((r) => r.type === 'run.started');
  const finished = records.find((r) => r.type === 'run.finished');
  const startData = objectOf(started?.data);
  const source = typeof startData['source'] === 'string' ? startData['source'] : undefined;
  const approvals = records.filter((r) => r.type === 'approval.granted' || r.type === 'approval.rejected');
  return layout(`Run ${runId}`, html`
${verificationBanner(verification)}
<p><a href="/audit">← all runs</a></p>
<h1>Run <code>${runId}</code></h1>
${started ? html`<dl class="facts">
  <dt>Runbook</dt><dd>${started.runbookId ?? ''} <span class="hash">sha256 ${started.runbookHash ?? ''}</span></dd>
  <dt>Requested by</dt><dd>${started.actor}</dd>
  <dt>Started</dt><dd>${isoTime(started.at)}</dd>
  <dt>Params</dt><dd><pre class="json">${pretty(startData['params'] ?? {})}</pre></dd>
  ${started.incidentId ? html`<dt>Incident</dt><dd>${started.incidentId}</dd>` : ''}
  <dt>Outcome</dt><dd>${finished ? html`<span class="status s-${statusOf(finished)}">${statusOf(finished)}</span> at ${isoTime(finished.at)}` : html`<span class="status s-active">active</span>`}</dd>
</dl>` : html`<p class="error">No run.started record for this run in the audit log.</p>`}
<h2>Approvals</h2>
${approvals.length === 0 ? html`<p class="empty">No approval decisions.</p>` : html`<ul class="approvals">${approvals.map((a) => html`<li data-approval="${a.type}"><strong>${a.type === 'approval.granted' ? 'Approved' : 'Rejected'}</strong> by <span class="actor">${a.actor}</span> at ${isoTime(a.at)}${stepOf(a) ? html` (step <code>${stepOf(a)}</code>)` : ''}</li>`)}</ul>`}
<h2>Timeline</h2>
<table class="timeline">
<thead><tr><th>#</th><th>Time (UTC)</th><th>Actor</th><th>Event</th><th>Details</th></tr></thead>
<tbody>
${records.map((r) => html`<tr class="t-${r.type.replace(/[^a-z0-9]+/gi, '-')}">
<td>${r.seq}</td><td>${isoTime(r.at)}</td><td>${r.actor}</td><td>${r.type}</td><td>${details(r)}</td>
</tr>`)}
</tbody>
</table>
<h2>Runbook source as it ran</h2>
${source !== undefined ? html`<pre class="source">${source}</pre>` : html`<p class="empty">The run.started record does not carry the source (recorded before sources were audited); its sha256 is above.</p>`}`);
}

/** A page for errors and unknown runs. */
export function messagePage(title: string, message: string): string {
  return layout(title, html`<h1>${title}</h1><p>${message}</p><p><a href="/audit">← all runs</a></p>`);
}

function details(record: AuditRecord): SafeHtml {
  const data = objectOf(record.data);
  switch (record.type) {
    case 'step.started':
      return html`<code>${String(data['stepId'] ?? '')}</code> → <strong>${String(data['executor'] ?? '')}</strong> (${String(data['phase'] ?? 'do')}, attempt ${String(data['attempt'] ?? '')})<pre class="json">${pretty(data['input'])}</pre>`;
    case 'step.succeeded':
      return html`<code>${String(data['stepId'] ?? '')}</code> answered<pre class="json">${pretty(data['output'] ?? null)}</pre>`;
    case 'step.failed':
      return html`<code>${String(data['stepId'] ?? '')}</code> failed<pre class="json">${pretty(data['error'] ?? null)}</pre>`;
    case 'run.finished':
      return html`<span class="status s-${statusOf(record)}">${statusOf(record)}</span>`;
    default:
      return html`<details><summary>data</summary><pre class="json">${pretty(record.data)}</pre></details>`;
  }
}

function statusOf(record: AuditRecord): string {
  const status = objectOf(record.data)['status'];
  return typeof status === 'string' ? status : 'unknown';
}

function stepOf(record: AuditRecord): string | undefined {
  const step = objectOf(record.data)['stepId'];
  return typeof step === 'string' ? step : undefined;
}

function objectOf(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Pretty JSON, capped so one huge output cannot make the page unusable. */
function pretty(value: unknown): string {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return text.length > 20_000 ? `${text.slice(0, 20_000)}\n… (${text.length - 20_000} more characters)` : text;
}

/** `2026-11-28 21:04:05` (UTC). */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '');
}

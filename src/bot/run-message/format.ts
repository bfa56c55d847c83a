/**
 * Small pure formatters for the run message: durations, people, times, params (secrets masked),
 * and a redactor for secret param values. Everything returned is mrkdwn-safe (escaped).
 */
import type { RunRecord } from '../../engine/run-store.ts';
import type { Runbook } from '../../machines/ir.ts';
import type { Decision, Person } from '../../machines/run-types.ts';
import { escapeMrkdwn } from './mrkdwn.ts';

/** Replaces the values of a run's secret params wherever they appear. */
export type Redactor = (text: string) => string;

/** What a secret value is replaced with. */
export const SECRET_MASK = '[secret]';

/** A redactor for the secret params of `run` (longest value first, so overlapping secrets are fully hidden). */
export function redactorFor(run: Pick<RunRecord, 'params'>, runbook: Pick<Runbook, 'params'>): Redactor {
  const secrets = runbook.params
    .filter((p) => p.secret)
    .map((p) => run.params[p.name])
    .filter((v): v is string | number => (typeof v === 'string' && v.length > 0) || typeof v === 'number')
    .map(String)
    .sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return (text) => text;
  return (text) => secrets.reduce((out, secret) => out.split(secret).join(SECRET_MASK), text);
}

/** `<1s`, `12s`, `2m05s`, `1h02m`: what a person glancing at Slack needs. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1_000) return '<1s';
  const seconds = Math.floor(ms / 1_000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  const days = Math.floor(seconds / 86_400);
  const hours = `${Math.floor((seconds % 86_400) / 3_600)}h${String(Math.floor((seconds % 3_600) / 60)).padStart(2, '0')}m`;
  return days > 0 ? `${days}d${hours}` : hours;
}

/** `2025-01-31 09:12:03Z`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** A time Slack shows in each reader's own time zone, with UTC as the fallback text. */
export function slackTime(ms: number): string {
  return `<!date^${Math.floor(ms / 1_000)}^{date_short_pretty} {time_secs}|${isoTime(ms)}>`;
}

const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;

/** A Slack user as a mention (`<@U123>`); CLI users, `system` and `pagerduty` by name. */
export function formatPerson(person: Person): string {
  if (SLACK_USER_ID.test(person.id)) return `<@${person.id}>`;
  if (person.id === 'system') return 'the system';
  return escapeMrkdwn(person.name ?? person.id);
}

/** Who decided and when: `<@U123> at <!date…>`. */
export function formatDecision(decision: Decision): string {
  return `${formatPerson(decision.by)}${decision.at === undefined ? '' : ` at ${slackTime(decision.at)}`}`;
}

/** Longest param value shown. */
const MAX_PARAM_CHARS = 120;

/** Params as `` `model`=`model-x` `` pairs, secret ones masked; `none` when there are none. */
export function formatParams(run: Pick<RunRecord, 'params'>, runbook: Pick<Runbook, 'params'>, redact: Redactor): string {
  const secret = new Set(runbook.params.filter((p) => p.secret).map((p) => p.name));
  const pairs = Object.entries(run.params).map(([name, value]) => {
    const text = secret.has(name) ? SECRET_MASK : redact(typeof value === 'string' ? value : JSON.stringify(value) ?? 'null');
    const shown = text.length > MAX_PARAM_CHARS ? `${text.slice(0, MAX_PARAM_CHARS - 1)}…` : text;
    return `${escapeMrkdwn(name)}=\`${escapeMrkdwn(shown.replace(/`/g, "'"))}\``;
  });
  return pairs.length > 0 ? pairs.join('  ') : '_none_';
}

/** One line of plain text (whitespace collapsed), at most `max` characters, escaped for mrkdwn. */
export function inline(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return escapeMrkdwn(flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`);
}

/**
 * The SLA escalations of a waiting step, as a context line of the run message:
 * `⏰ Reminded @ml-oncall-leads at 10:32 · Paged PABC123 at 10:42 · Overdue since 10:52`.
 */
import type { EscalationRecord, StepState } from '../../machines/run-types.ts';
import { slackTime } from './format.ts';
import { escapeMrkdwn } from './mrkdwn.ts';

const USER_ID = /^[UW][A-Z0-9]{2,}$/;

function who(targets: readonly string[]): string {
  return targets.map((t) => (USER_ID.test(t) ? `<@${t}>` : escapeMrkdwn(t))).join(', ');
}

function describe(record: EscalationRecord, time: (ms: number) => string): string[] {
  const when = record.at !== undefined ? ` at ${time(record.at)}` : '';
  const parts: string[] = [];
  if (record.expired) parts.push(`Overdue since${when ? when.slice(3) : ' now'}`);
  if (record.notify && record.notify.length > 0) parts.push(`Reminded ${who(record.notify)}${when}`);
  if (record.page) parts.push(`Paged ${escapeMrkdwn(record.page.escalationPolicy ?? record.page.service ?? 'PagerDuty')}${when}`);
  return parts;
}

/** The line, or undefined when no rung fired. */
export function escalationLine(state: Pick<StepState, 'escalations'>, time: (ms: number) => string = slackTime): string | undefined {
  const parts = (state.escalations ?? []).flatMap((record) => describe(record, time));
  return parts.length > 0 ? `⏰ ${parts.join(' · ')}` : undefined;
}

/**
 * `/runbook help`, `/runbook help <runbook>`, `/runbook list [tag]` and `/runbook plan …` as
 * messages, pure.
 */
import type { Runbook } from '../../machines/ir.ts';
import type { Plan } from '../../machines/plan.ts';
import { commandOf, describeParam, usageLine } from '../arguments.ts';
import type { CatalogEntry } from '../catalog.ts';
import { BUILTIN_USAGE, INCIDENT_USAGE } from '../grammar.ts';
import type { BotMessage } from '../ports.ts';
import { code, escapeText, paragraphs } from './blocks.ts';
import { describeGate, formatParams, gateOf } from './replies.ts';

/** The grammar, with a few runbooks as examples. */
export function helpReply(entries: readonly CatalogEntry[]): BotMessage {
  const examples = entries.slice(0, 5).map((e) => `• \`${escapeText(usageLine(e.runbook))}\` — ${escapeText(e.runbook.title)}`);
  return paragraphs(
    '*`/runbook <runbook> [values…] [name=value…]`* starts a runbook: `<runbook>` is its Slack command or its id; '
      + 'values fill its params in the order of its usage line; `name=value` names one. Quote a value that has spaces: `reason="disk full"`. '
      + '`/runbook` alone opens a form.',
    [
      `\`${BUILTIN_USAGE.list}\` — the runbooks (with a tag: only those)`,
      `\`${BUILTIN_USAGE.help}\` — this, or one runbook's usage and params`,
      `\`${BUILTIN_USAGE.plan}\` — every call a run would make; runs nothing`,
      `\`${BUILTIN_USAGE.status}\` — one run, or your recent runs`,
      `\`${BUILTIN_USAGE.cancel}\` — cancel a run`,
      `\`${INCIDENT_USAGE.declare}\` — declare an incident: a channel \`inc-<yyyymmdd>-<title>\` with you in it and a pinned summary`,
      `\`/runbook incident ack\`, \`mitigate [reason…]\`, \`resolve [resolution…]\`, \`status\` — in an incident's channel (synced to PagerDuty); runbooks started there belong to the incident`,
    ].join('\n'),
    examples.length > 0 ? `Runbooks:\n${examples.join('\n')}${entries.length > examples.length ? `\n…and ${entries.length - examples.length} more: \`/runbook list\`` : ''}` : 'No runbooks are loaded.',
  );
}

/** One runbook: title, summary, usage, params with descriptions, approvals. */
export function runbookHelpReply(runbook: Runbook): BotMessage {
  const params = runbook.params.map((p) => `• ${escapeText(describeParam(p))}`);
  const gates = runbook.steps.filter((s) => s.kind === 'approval').map((s) => `• ${code(s.id)} ${describeGate(gateOf(s))}`);
  return paragraphs(
    `*${escapeText(runbook.title)}* (${code(runbook.id)})${runbook.summary ? `\n${escapeText(runbook.summary)}` : ''}`,
    `Usage: \`${escapeText(usageLine(runbook))}\``,
    params.length > 0 ? `Params:\n${params.join('\n')}` : 'No params.',
    gates.length > 0 ? `Approvals:\n${gates.join('\n')}` : undefined,
    `Steps: ${runbook.steps.map((s) => code(s.id, 40)).join(' → ')}`,
  );
}

/** The runbooks, or those tagged `tag`. */
export function listReply(entries: readonly CatalogEntry[], tag?: string): BotMessage {
  const wanted = tag?.toLowerCase();
  const shown = entries.filter((e) => wanted === undefined || e.runbook.tags.some((t) => t.toLowerCase() === wanted));
  if (shown.length === 0) {
    const tags = [...new Set(entries.flatMap((e) => e.runbook.tags))].sort();
    return paragraphs(tag === undefined ? 'No runbooks are loaded.' : `No runbook is tagged ${code(tag)}.${tags.length > 0 ? ` Tags: ${tags.map((t) => code(t)).join(', ')}` : ''}`);
  }
  const lines = shown.map((e) => {
    const tags = e.runbook.tags.length > 0 ? ` _${escapeText(e.runbook.tags.join(', '))}_` : '';
    return `• *${code(commandOf(e.runbook))}* ${escapeText(e.runbook.title)}${tags}\n   \`${escapeText(usageLine(e.runbook))}\``;
  });
  return paragraphs(`${tag === undefined ? 'Runbooks' : `Runbooks tagged ${code(tag)}`} (${shown.length}):\n${lines.join('\n')}`, '`/runbook help <runbook>` shows its params.');
}

/** A plan: each step with what it would call; nothing runs. */
export function planReply(plan: Plan, runbook: Runbook): BotMessage {
  const steps = plan.steps.map((step, i) => {
    const kind = step.executor ?? step.kind;
    const tags = [kind, ...(step.kind === 'call' ? [step.mutating ? 'MUTATING' : 'read-only'] : []), ...(step.condition === 'skipped' ? ['skipped'] : step.condition === 'at-run-time' ? ['conditional'] : [])];
    const input = step.input !== undefined && step.kind !== 'manual' ? `\n   ${code(JSON.stringify(step.input), 280)}` : '';
    return `${i + 1}. *${escapeText(step.title)}* (${code(step.id, 40)}) [${escapeText(tags.join(', '))}]${input}`;
  });
  return paragraphs(
    `📝 Plan for *${escapeText(plan.title)}* (${code(plan.runbook)}) with ${formatParams(plan.params, runbook)}:`,
    steps.join('\n'),
    'Nothing was executed. ⟨…⟩ marks values known only at run time.',
  );
}

/**
 * Static checks of SLA ladders (issue 6): a rung due after the wait's `expires` never fires for
 * an approval that expires (the wait is over by then), and is late for a manual step that is
 * already overdue. Warnings: the runbook still runs.
 */
import type { Diagnostic, SourceLocation } from './diagnostics.ts';
import { formatDuration } from './durations.ts';
import type { EscalationRung, Runbook, Step } from './ir.ts';
import type { Rule, RuleContext } from './rules.ts';

function frontMatterAt(context: RuleContext, path: readonly (string | number)[]): SourceLocation {
  return context.frontMatter?.locate(path) ?? context.document.frontMatterLocation;
}

function stepAt(context: RuleContext, index: number, path: readonly (string | number)[]): SourceLocation {
  const node = context.document.steps[index];
  const block = node?.blocks[0];
  if (block) return block.yaml.locate(path, { preferKey: false });
  return node?.location ?? context.document.frontMatterLocation;
}

function lateRungs(rungs: readonly EscalationRung[], expiresMs: number | undefined, what: string, locate: (i: number) => SourceLocation): Diagnostic[] {
  if (expiresMs === undefined) return [];
  return rungs.flatMap((rung, i) =>
    rung.afterMs > expiresMs
      ? [{
          severity: 'warning' as const,
          code: 'escalation-after-expiry',
          message: `escalation rung ${i + 1} of ${what} is due after ${formatDuration(rung.afterMs)}, later than its \`expires: ${formatDuration(expiresMs)}\``,
          location: locate(i),
          expected: `\`after\` at most ${formatDuration(expiresMs)}, or a longer \`expires\``,
          found: `after: ${formatDuration(rung.afterMs)}`,
        }]
      : [],
  );
}

export const escalationWithinExpiry: Rule = {
  name: 'escalation-after-expiry',
  description: 'Every SLA escalation rung is due before its wait expires.',
  check(context) {
    const { runbook } = context;
    const out: Diagnostic[] = [];
    if (runbook.approval) {
      out.push(...lateRungs(runbook.approval.escalation, runbook.approval.expiresMs, 'the default approval', (i) => frontMatterAt(context, ['approval', 'escalation', i, 'after'])));
    }
    if (runbook.manual) {
      out.push(...lateRungs(runbook.manual.escalation, runbook.manual.expiresMs, 'manual steps', (i) => frontMatterAt(context, ['manual', 'escalation', i, 'after'])));
    }
    runbook.steps.forEach((step, index) => {
      const gate = step.approval;
      if (!gate || gate === runbook.approval) return;
      // A step that inherits the front matter's ladder was reported there.
      const body = context.document.steps[index]?.blocks[0]?.yaml.value;
      const own = typeof body === 'object' && body !== null && ('escalation' in body || 'expires' in body);
      if (!own) return;
      const path = (i: number) => ('escalation' in (body as object) ? ['escalation', i, 'after'] : ['expires']);
      out.push(...lateRungs(gate.escalation, gate.expiresMs, `approval step \`${step.id}\``, (i) => stepAt(context, index, path(i))));
    });
    return out;
  },
};

/** `after 10m remind @ml-oncall-leads; after 20m page PABC123`. */
export function describeLadder(rungs: readonly EscalationRung[]): string {
  return rungs.map((r) => {
    const what = [r.notify?.length ? `remind ${r.notify.join(', ')}` : '', r.page ? `page ${r.page.escalationPolicy ?? r.page.service ?? ''}` : ''].filter(Boolean).join(' and ');
    return `after ${formatDuration(r.afterMs)} ${what}`;
  }).join('; ');
}

/** What `runbook plan` says about a step's SLA ladder and the auto-start gate. */
export function slaNotes(runbook: Runbook, step: Step): string[] {
  const notes: string[] = [];
  const ladder = step.kind === 'approval' ? (step.approval?.escalation ?? []) : step.kind === 'manual' ? (runbook.manual?.escalation ?? []) : [];
  if (ladder.length > 0) notes.push(`escalates: ${describeLadder(ladder)}`);
  if (step.kind === 'manual' && runbook.manual?.expiresMs !== undefined) notes.push(`overdue after ${formatDuration(runbook.manual.expiresMs)} (keeps waiting)`);
  const firstMutating = runbook.steps.find((s) => s.kind === 'call' && s.mutating);
  const approvedBefore = runbook.steps.slice(0, runbook.steps.indexOf(step)).some((s) => s.kind === 'approval');
  if (firstMutating === step && !approvedBefore) notes.push('when PagerDuty started the run: waits here for a person to approve before it changes anything');
  return notes;
}

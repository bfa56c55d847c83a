/**
 * The step list and the current step of the run message: one mrkdwn line per step with its
 * state, and the current step's instructions (or approval request) as sections.
 */
import type { RunRecord } from '../../engine/run-store.ts';
import type { ApprovalGate, Runbook, Step } from '../../machines/ir.ts';
import { approvalMessage, stepState } from '../../machines/run-logic.ts';
import type { StepState, StepStatus } from '../../machines/run-types.ts';
import { formatDecision, formatDuration, formatPerson, inline, slackTime, type Redactor } from './format.ts';
import { escapeMrkdwn, markdownToMrkdwn } from './mrkdwn.ts';
import { escalationLine } from './escalations.ts';
import { confirmationMessage } from '../../machines/auto-start-gate.ts';

/** How each step status reads at a glance in the step list. */
export const STEP_ICONS: Readonly<Record<StepStatus, string>> = {
  pending: '⚪',
  running: '⏳',
  retrying: '🔁',
  waiting: '⏸️',
  awaiting_approval: '✋',
  awaiting_manual: '👤',
  succeeded: '✅',
  failed: '❌',
  skipped: '⏭️',
  undoing: '↩️',
  undone: '↩️',
  undo_failed: '⚠️',
};

/** Statuses in which a step is the one the run is at. */
const CURRENT: ReadonlySet<StepStatus> = new Set(['running', 'retrying', 'waiting', 'awaiting_approval', 'awaiting_manual', 'undoing']);

const MAX_TITLE = 150;
const MAX_DETAIL = 300;

/** The step the run is at (running, waiting for someone, being undone), if any. */
export function currentStep(run: RunRecord, runbook: Runbook): { step: Step; index: number; state: StepState } | undefined {
  if (run.status !== 'active') return undefined;
  const context = run.snapshot.context;
  for (const [index, step] of runbook.steps.entries()) {
    const state = stepState(context, step.id);
    if (CURRENT.has(state.status)) return { step, index, state };
  }
  return undefined;
}

/** How long a step has taken (so far); undefined when it has no start (pending, auto-skipped, undo phases). */
export function stepElapsedMs(state: StepState, now: number, runCreatedAt: number): number | undefined {
  if (state.status === 'pending' || state.status === 'undoing' || state.status === 'undone' || state.status === 'undo_failed') return undefined;
  if (state.status === 'skipped' && state.decidedBy === undefined) return undefined;
  const startedAt = state.startedAt ?? runCreatedAt;
  return Math.max(0, (state.finishedAt ?? now) - startedAt);
}

function approvals(state: StepState): string {
  const list = state.approvals ?? [];
  return list.length > 0 ? `approved by ${list.map(formatDecision).join(', ')}` : '';
}

function reasonOf(reason: string | undefined, redact: Redactor): string {
  return reason ? `: ${inline(redact(reason), 150)}` : '';
}

/** The words after a step's title: its state, timing, who decided and when. */
export function stepDetail(step: Step, state: StepState, run: RunRecord, now: number, redact: Redactor): string {
  const elapsed = stepElapsedMs(state, now, run.createdAt);
  const took = elapsed === undefined ? '' : ` · ${formatDuration(elapsed)}`;
  const error = state.error ? inline(redact(`${state.error.code}: ${state.error.message}`), 200) : '';
  switch (state.status) {
    case 'pending':
      return 'pending';
    case 'running':
      return `running${state.attempt > 1 ? ` (attempt ${state.attempt})` : ''}${took}`;
    case 'retrying':
      return `retrying after attempt ${state.attempt} failed${error ? `: ${error}` : ''}`;
    case 'waiting':
      return `waiting${took}`;
    case 'awaiting_approval': {
      const quorum = step.approval?.quorum ?? 1;
      const so = approvals(state);
      return `waiting for approval (${state.approvals?.length ?? 0}/${quorum})${so ? ` · ${so}` : ''}${took}`;
    }
    case 'awaiting_manual':
      return `waiting for someone to mark it done${took}`;
    case 'succeeded':
      if (step.kind === 'approval') return approvals(state) || 'approved';
      if (state.decidedBy) return `done by ${formatDecision(state.decidedBy)}${took}`;
      return `succeeded${state.attempt > 1 ? ` on attempt ${state.attempt}` : ''}${took}`;
    case 'failed':
      if (step.kind === 'approval' && state.decidedBy) {
        const verdict = state.decidedBy.by.id === 'system' ? 'approval expired' : `rejected by ${formatDecision(state.decidedBy)}`;
        const so = approvals(state);
        return `${verdict}${reasonOf(state.decidedBy.by.id === 'system' ? undefined : state.decidedBy.reason, redact)}${so ? ` (${so})` : ''}`;
      }
      return `failed${state.attempt > 1 ? ` after ${state.attempt} attempts` : ''}${error ? `: ${error}` : ''}${took}`;
    case 'skipped':
      if (state.decidedBy) return `skipped by ${formatDecision(state.decidedBy)}${reasonOf(state.decidedBy.reason, redact)}`;
      return step.when ? `skipped (\`when: ${inline(step.when, 120)}\` was false)` : 'skipped';
    case 'undoing':
      return 'undoing…';
    case 'undone':
      return 'undone';
    case 'undo_failed':
      return `undo failed${error ? `: ${error}` : ''}`;
    default:
      return state.status;
  }
}

/** One mrkdwn line per step, in runbook order; the current one in bold. */
export function stepLines(run: RunRecord, runbook: Runbook, now: number, redact: Redactor): string[] {
  const current = currentStep(run, runbook)?.step.id;
  return runbook.steps.map((step, index) => {
    const state = stepState(run.snapshot.context, step.id);
    const title = `${index + 1}. ${inline(step.title, MAX_TITLE)}`;
    const detail = stepDetail(step, state, run, now, redact);
    const shownDetail = detail.length > MAX_DETAIL * 2 ? `${detail.slice(0, MAX_DETAIL * 2)}…` : detail;
    return `${STEP_ICONS[state.status]} ${step.id === current ? `*${title}*` : title} — ${shownDetail}`;
  });
}

/** A one-line summary of steps left out of a long list: `… 57 steps (✅ 55 · ⏭️ 2)`. */
export function omittedLine(run: RunRecord, steps: readonly Step[]): string {
  const counts = new Map<StepStatus, number>();
  for (const step of steps) {
    const status = stepState(run.snapshot.context, step.id).status;
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }
  const parts = [...counts].map(([status, n]) => `${STEP_ICONS[status]} ${n}`);
  return `_… ${steps.length} more step${steps.length === 1 ? '' : 's'} (${parts.join(' · ')})_`;
}

function describeGate(gate: ApprovalGate, startedAt: number | undefined): string {
  const who = gate.from.length > 0 ? `from ${gate.from.map((f) => (/^[UW][A-Z0-9]{2,}$/.test(f) ? `<@${f}>` : escapeMrkdwn(f))).join(', ')}` : 'from anyone';
  const self = gate.allowSelf ? 'the requester may approve' : 'not the requester';
  const expiry = gate.expiresMs !== undefined && startedAt !== undefined ? ` · expires ${slackTime(startedAt + gate.expiresMs)}${gate.onExpiry === 'reject' ? ' (then rejected)' : ''}` : '';
  return `Needs ${gate.quorum} approval${gate.quorum === 1 ? '' : 's'} ${who} (${self})${expiry}`;
}

/** The current step as mrkdwn: a title line, the approval request if any, then its instructions. */
export function currentStepText(run: RunRecord, runbook: Runbook, redact: Redactor): string | undefined {
  const current = currentStep(run, runbook);
  if (!current) return undefined;
  const { step, state } = current;
  const title = inline(step.title, MAX_TITLE);
  const parts: string[] = [];
  if (state.status === 'awaiting_approval') {
    const gate = step.approval ?? { quorum: 1, from: [], allowSelf: false, onExpiry: 'reject' as const, escalation: [] };
    // A mutating call step waiting here is an auto-started run's confirmation gate.
    const message = redact(step.kind === 'call' ? confirmationMessage(step, run.snapshot.context) : approvalMessage(step, run.snapshot.context));
    parts.push(`*✋ Approval needed — ${title}*`, `> ${inline(message, 1_000)}`, describeGate(gate, state.startedAt));
    const so = approvals(state);
    if (so) parts.push(`So far ${so}.`);
  } else if (state.status === 'awaiting_manual') {
    parts.push(`*👤 Over to you — ${title}*`, 'Do this step, then press *Done* (or *Skip*).');
  }
  const escalated = state.status === 'awaiting_approval' || state.status === 'awaiting_manual' ? escalationLine(state) : undefined;
  if (escalated) parts.push(escalated); else if (state.status === 'undoing') {
    parts.push(`*↩️ Undoing — ${title}*`);
  } else {
    parts.push(`*${STEP_ICONS[state.status]} Now — ${title}*`);
  }
  const instructions = step.instructions.trim();
  if (instructions) parts.push(markdownToMrkdwn(redact(instructions)));
  return parts.join('\n');
}

/** Who asked: `<@U123>`. */
export function requesterOf(run: RunRecord): string {
  return formatPerson(run.requester);
}

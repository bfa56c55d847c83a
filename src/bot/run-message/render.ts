/**
 * The run message (issue 5): one Slack message per run, re-rendered from the run's current
 * state. Pure: `renderRunMessage(run, runbook, now)` returns `{ text, blocks }` within Block
 * Kit's limits (50 blocks, 3,000 characters per section, 150 per header); the notifier posts it
 * and updates it in place. Step outputs go in the message's thread (`renderStepOutput`).
 */
import type { RunRecord } from '../../engine/run-store.ts';
import type { Runbook, Step } from '../../machines/ir.ts';
import { stepState } from '../../machines/run-logic.ts';
import type { FinalStatus } from '../../machines/run-types.ts';
import { actionButtons } from './actions.ts';
import { BLOCK_LIMITS, divider, plainText, section, type RunMessageBlock, type SlackMessageContent } from './blocks.ts';
import { formatDecision, formatDuration, formatParams, inline, redactorFor, slackTime, type Redactor } from './format.ts';
import { codeBlock, splitMrkdwn, truncateMrkdwn } from './mrkdwn.ts';
import { currentStep, currentStepText, omittedLine, requesterOf, stepLines } from './steps.ts';

/** How each final state reads: unmistakable at a glance. */
export const FINAL_ICONS: Readonly<Record<FinalStatus, string>> = {
  succeeded: '✅',
  failed: '❌',
  rolled_back: '↩️',
  rejected: '🚫',
  cancelled: '⏹️',
};

/** Sections the step list may use; a longer list is shown as a window around the current step. */
export const MAX_STEP_SECTIONS = 8;
/** Sections the current step's instructions may use. */
export const MAX_INSTRUCTION_SECTIONS = 12;
/** Characters of a step output shown in the thread. */
export const MAX_OUTPUT_CHARS = 2_500;
/** Room left in a section for safety when packing lines (a line is at most ~700 characters). */
const SECTION_ROOM = BLOCK_LIMITS.sectionText - 100;

/** The command that shows a run's audit record (until the reviewer page links it). */
export function auditReference(runId: string): string {
  return `audit: \`runbook audit show ${runId}\``;
}

/** The whole run message. `now` is only used for elapsed times of steps still going. */
export function renderRunMessage(run: RunRecord, runbook: Runbook, now: number): SlackMessageContent {
  const redact = redactorFor(run, runbook);
  const final = run.status === 'active' ? undefined : run.status;
  const blocks: RunMessageBlock[] = [
    { type: 'header', block_id: 'runbook.header', text: plainText(`${final ? FINAL_ICONS[final] : '📘'} ${runbook.title}`, BLOCK_LIMITS.headerText) },
    section(truncateMrkdwn(metaText(run, runbook, redact), BLOCK_LIMITS.sectionText), 'runbook.meta'),
    section(truncateMrkdwn(statusText(run, runbook, now, redact), BLOCK_LIMITS.sectionText), 'runbook.status'),
    divider,
    ...packStepList(run, runbook, now, redact).map((text, i) => section(text, `runbook.steps.${i}`)),
  ];
  const actions = actionButtonsFor(run, runbook);
  const current = currentStepText(run, runbook, redact);
  if (current) {
    const room = Math.min(MAX_INSTRUCTION_SECTIONS, BLOCK_LIMITS.blocksPerMessage - blocks.length - 1 - (actions ? 1 : 0) - 1);
    blocks.push(divider, ...fitSections(current, room).map((text, i) => section(text, `runbook.current.${i}`)));
  }
  if (actions) blocks.push(actions);
  blocks.push({ type: 'context', block_id: 'runbook.audit', elements: [{ type: 'mrkdwn', text: auditReference(run.id) }] });
  return { text: fallbackText(run, runbook, now, redact), blocks };
}

function metaText(run: RunRecord, runbook: Runbook, redact: Redactor): string {
  const incident = run.incidentId ? ` · *Incident:* ${inline(run.incidentId, 100)}` : '';
  return [
    `*Runbook:* \`${inline(runbook.id, 100)}\` · *Run:* \`${run.id}\``,
    `*Requested by:* ${requesterOf(run)} at ${slackTime(run.createdAt)}${incident}`,
    `*Params:* ${formatParams(run, runbook, redact)}`,
  ].join('\n');
}

function runElapsed(run: RunRecord, now: number): string {
  return formatDuration((run.status === 'active' ? now : run.updatedAt) - run.createdAt);
}

function stepRef(runbook: Runbook, stepId: string): string {
  const index = runbook.steps.findIndex((s) => s.id === stepId);
  const step = runbook.steps[index];
  return step ? `*${index + 1}. ${inline(step.title, 150)}*` : `\`${inline(stepId, 100)}\``;
}

/** The one line that says where the run is, or how it ended. */
export function statusText(run: RunRecord, runbook: Runbook, now: number, redact: Redactor): string {
  const context = run.snapshot.context;
  const took = runElapsed(run, now);
  const undone = context.rollback && context.rollback.undone.length > 0 ? ` · undone: ${context.rollback.undone.map((id) => stepRef(runbook, id)).join(', ')}` : '';
  const failure = context.failure ? `${stepRef(runbook, context.failure.stepId)}: ${inline(redact(`${context.failure.error.code}: ${context.failure.error.message}`), 300)}` : 'an unknown step';
  switch (run.status) {
    case 'succeeded':
      return `✅ *Succeeded* in ${took}`;
    case 'failed':
      return `❌ *Failed* at ${failure} · after ${took}${undone}`;
    case 'rolled_back':
      return `↩️ *Rolled back* after ${failure}${undone} · after ${took}`;
    case 'rejected': {
      const rejected = context.rejected;
      if (!rejected) return `🚫 *Rejected* · after ${took}${undone}`;
      const why = rejected.by.id === 'system' ? `approval of ${stepRef(runbook, rejected.stepId)} expired` : `by ${formatDecision(rejected)} at ${stepRef(runbook, rejected.stepId)}${rejected.reason ? `: ${inline(redact(rejected.reason), 300)}` : ''}`;
      return `🚫 *Rejected* ${why} · after ${took}${undone}`;
    }
    case 'cancelled': {
      const by = context.cancelled;
      const who = by ? ` by ${formatDecision(by)}${by.reason ? `: ${inline(redact(by.reason), 300)}` : ''}` : '';
      return `⏹️ *Cancelled*${who} · after ${took}${undone}`;
    }
    default:
      return activeStatus(run, runbook, took);
  }
}

function activeStatus(run: RunRecord, runbook: Runbook, took: string): string {
  const current = currentStep(run, runbook);
  const where = current ? ` — step ${current.index + 1} of ${runbook.steps.length}` : '';
  if (run.snapshot.context.rollback) return `↩️ *Rolling back*${where} · ${took} so far`;
  switch (current?.state.status) {
    case 'awaiting_approval':
      return `✋ *Waiting for approval*${where} · ${took} so far`;
    case 'awaiting_manual':
      return `👤 *Waiting for a person*${where} · ${took} so far`;
    default:
      return `⏳ *Running*${where} · ${took} so far`;
  }
}

function actionButtonsFor(run: RunRecord, runbook: Runbook) {
  if (run.status !== 'active') return undefined;
  const current = currentStep(run, runbook);
  const rollingBack = run.snapshot.context.rollback !== null;
  const status = current?.state.status;
  const kind = status === 'awaiting_approval' ? 'approval' : status === 'awaiting_manual' ? 'manual' : 'other';
  return actionButtons({
    runId: run.id,
    ...(current ? { stepId: current.step.id } : {}),
    stepKind: kind,
    canCancel: !rollingBack,
    cancelRollsBack: runbook.onCancel === 'rollback' && run.snapshot.context.undoStack.length > 0,
  });
}

/** The step to centre a long list on: the current one, else where it failed, else the last that ran. */
function focusIndex(run: RunRecord, runbook: Runbook): number {
  const current = currentStep(run, runbook);
  if (current) return current.index;
  const context = run.snapshot.context;
  const stuck = context.failure?.stepId ?? context.rejected?.stepId;
  const at = stuck ? runbook.steps.findIndex((s) => s.id === stuck) : -1;
  if (at >= 0) return at;
  const ran = runbook.steps.map((s) => stepState(context, s.id).status !== 'pending');
  return Math.max(0, ran.lastIndexOf(true));
}

/** The step list as sections: every step when it fits, else a window around the focus with summaries. */
function packStepList(run: RunRecord, runbook: Runbook, now: number, redact: Redactor): string[] {
  const lines = stepLines(run, runbook, now, redact);
  if (lines.length === 0) return ['_This runbook has no steps._'];
  const budget = MAX_STEP_SECTIONS * (SECTION_ROOM - 800);
  const size = (from: number, to: number) => lines.slice(from, to).reduce((n, l) => n + l.length + 1, 0);
  let lo = 0;
  let hi = lines.length;
  if (size(lo, hi) > budget) {
    const focus = focusIndex(run, runbook);
    lo = focus;
    hi = focus + 1;
    // Grow the window both ways, a few lines before the focus for each line after it.
    while (lo > 0 || hi < lines.length) {
      const next = lo > 0 && (hi >= lines.length || focus - lo < 3 || hi - focus > 3 * (focus - lo)) ? [lo - 1, hi] : [lo, hi + 1];
      const [a, b] = next as [number, number];
      if (size(a, b) > budget) break;
      [lo, hi] = [a, b];
    }
  }
  const shown = [
    ...(lo > 0 ? [omittedLine(run, runbook.steps.slice(0, lo) as Step[])] : []),
    ...lines.slice(lo, hi),
    ...(hi < lines.length ? [omittedLine(run, runbook.steps.slice(hi) as Step[])] : []),
  ];
  return packLines(shown, SECTION_ROOM).slice(0, MAX_STEP_SECTIONS);
}

/** Greedily packs lines into chunks of at most `limit` characters. */
export function packLines(lines: readonly string[], limit: number): string[] {
  const chunks: string[] = [];
  let current = '';
  for (const line of lines) {
    const piece = line.length > limit ? truncateMrkdwn(line, limit) : line;
    if (current && current.length + 1 + piece.length > limit) {
      chunks.push(current);
      current = piece;
    } else {
      current = current ? `${current}\n${piece}` : piece;
    }
  }
  if (current) chunks.push(current);
  return chunks;
}

/** Splits text into at most `room` sections; what does not fit is cut with a note. */
function fitSections(text: string, room: number): string[] {
  if (room <= 0) return [];
  const chunks = splitMrkdwn(text, BLOCK_LIMITS.sectionText);
  if (chunks.length <= room) return chunks;
  const kept = chunks.slice(0, room);
  const note = '\n_… cut here: the rest is in the runbook file._';
  const last = kept[room - 1] ?? '';
  kept[room - 1] = `${truncateMrkdwn(last, BLOCK_LIMITS.sectionText - note.length)}${note}`;
  return kept;
}

function fallbackText(run: RunRecord, runbook: Runbook, now: number, redact: Redactor): string {
  const title = inline(runbook.title, 150);
  const final = run.status === 'active' ? undefined : run.status;
  if (final) return `${FINAL_ICONS[final]} ${title}: ${final.replace('_', ' ')} after ${runElapsed(run, now)} (run ${run.id})`;
  const current = currentStep(run, runbook);
  const what = current ? `${current.state.status.replace(/_/g, ' ')} at “${inline(redact(current.step.title), 150)}”` : 'running';
  return `📘 ${title}: ${what} (run ${run.id})`;
}

/** A step output (or error) to post in the run message's thread. */
export interface OutputPost {
  /** Unique per step, outcome and attempt: post each once. */
  readonly key: string;
  readonly stepId: string;
  readonly content: SlackMessageContent;
}

const isEmpty = (value: unknown) => value === undefined || value === null || (typeof value === 'object' && Object.keys(value).length === 0);

const HAS_DO_OUTPUT: ReadonlySet<string> = new Set(['succeeded', 'undoing', 'undone', 'undo_failed']);

/**
 * The thread posts a run's state calls for, in runbook order: the output of each call that
 * succeeded (still shown once it is undone), the error of each that failed, and the error of a
 * failed undo. Keys name the step, the kind of post and the attempt, so each is posted once.
 */
export function outputPosts(run: RunRecord, runbook: Runbook): OutputPost[] {
  const redact = redactorFor(run, runbook);
  return runbook.steps.flatMap((step, index): OutputPost[] => {
    if (step.kind !== 'call') return [];
    const state = stepState(run.snapshot.context, step.id);
    const title = `*${index + 1}. ${inline(step.title, 150)}*`;
    const post = (kind: string, attempt: number, heading: string, body: string, summary: string): OutputPost => ({
      key: `${step.id}.${kind}.${attempt}`,
      stepId: step.id,
      content: { text: `${summary} of step ${index + 1}: ${inline(step.title, 150)}`, blocks: [section(`${heading}\n${codeBlock(redact(body), MAX_OUTPUT_CHARS)}`)] },
    });
    const posts: OutputPost[] = [];
    if (HAS_DO_OUTPUT.has(state.status) && !isEmpty(state.output)) {
      const body = typeof state.output === 'string' ? state.output : JSON.stringify(state.output, null, 2);
      posts.push(post('output', state.attempt, `✅ ${title} — output${state.attempt > 1 ? ` (attempt ${state.attempt})` : ''}`, body, 'Output'));
    }
    if (state.status === 'failed' && state.error) {
      posts.push(post('error', state.attempt, `❌ ${title} — failed${state.attempt > 1 ? ` after ${state.attempt} attempts` : ''}`, `${state.error.code}: ${state.error.message}`, 'Error'));
    }
    if (state.status === 'undo_failed' && state.error) {
      posts.push(post('undo-error', state.undoAttempt ?? 1, `⚠️ ${title} — undo failed`, `${state.error.code}: ${state.error.message}`, 'Undo error'));
    }
    return posts;
  });
}

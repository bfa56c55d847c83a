/**
 * The ephemeral replies of the bot, pure: what was started, why nothing was, why a click changed
 * nothing, a run's status, the caller's recent runs. Each says what happened and what to do next.
 */
import type { RunRecord } from '../../engine/run-store.ts';
import type { ApprovalGate, Runbook, Step } from '../../machines/ir.ts';
import type { StepState } from '../../machines/run-types.ts';
import { usageLine } from '../arguments.ts';
import type { BotMessage } from '../ports.ts';
import { code, escapeText, listWords, paragraphs, who } from './blocks.ts';

/** A step's approval gate, or the default one (anyone but the requester, quorum 1). */
export function gateOf(step: Step): ApprovalGate {
  return step.approval ?? { quorum: 1, from: [], allowSelf: false, onExpiry: 'reject', escalation: [] };
}

/** `needs 2 approvals from @ml-oncall-leads or <@U024BE7LH>, not the requester`. */
export function describeGate(gate: ApprovalGate): string {
  const from = gate.from.length > 0 ? ` from ${listWords(gate.from.map(who))}` : ' from anyone';
  return `needs ${gate.quorum} approval${gate.quorum === 1 ? '' : 's'}${from}${gate.allowSelf ? '' : ', not the requester'}`;
}

/** Params as `k=v …`, secret ones masked. */
export function formatParams(params: Readonly<Record<string, unknown>>, runbook: Runbook): string {
  const secret = new Set(runbook.params.filter((p) => p.secret).map((p) => p.name));
  const pairs = Object.entries(params).map(([k, v]) => `${k}=${secret.has(k) ? '[secret]' : String(v)}`);
  return pairs.length > 0 ? code(pairs.join(' '), 300) : 'no params';
}

/** The run was started. */
export function startedReply(run: Pick<RunRecord, 'id' | 'params'>, runbook: Runbook): BotMessage {
  return paragraphs(
    `▶️ Started run ${code(run.id)} of *${escapeText(runbook.title)}* (${code(runbook.id)}) with ${formatParams(run.params, runbook)}.`,
    `Follow it here, or with \`/runbook status ${run.id}\`. Cancel it with \`/runbook cancel ${run.id}\`.`,
  );
}

/** No runbook answers to `name`. */
export function unknownRunbookReply(name: string, closest: readonly string[]): BotMessage {
  const hint = closest.length > 0 ? ` Did you mean ${listWords(closest.map((c) => code(c)))}?` : '';
  return paragraphs(`🤷 There is no runbook ${code(name)}.${hint} Nothing was started.`, '`/runbook list` shows every runbook; `/runbook help <runbook>` shows its params.');
}

/** The request cannot start the runbook as typed. */
export function badParamsReply(runbook: Runbook, problems: readonly string[], verb = 'started'): BotMessage {
  return paragraphs(
    `⚠️ Nothing was ${verb}: ${problems.length === 1 ? 'one problem' : `${problems.length} problems`} with \`${escapeText(runbook.id)}\`'s params:\n${problems.map((p) => `• ${escapeText(p)}`).join('\n')}`,
    `Usage: \`${escapeText(usageLine(runbook))}\``,
  );
}

/** The command text itself cannot be read. */
export function invalidCommandReply(message: string, usage: string): BotMessage {
  return paragraphs(`⚠️ ${escapeText(message)}. Nothing was done.`, `Usage: \`${escapeText(usage)}\``);
}

/** The engine refused to start the run (concurrency, an invalid runbook …): its message says why. */
export function refusedReply(runbook: Runbook, error: { readonly code: string; readonly message: string }): BotMessage {
  const lead = error.code === 'run_concurrency_conflict' ? '⏳ Not started: another run holds this runbook\'s concurrency key' : error.code === 'policy_denied' ? '🚫 Not started: the policy does not allow it' : '⚠️ Not started';
  return paragraphs(`${lead} (\`${escapeText(runbook.id)}\`): ${escapeText(error.message)}`);
}

/** Something failed on our side; whether it happened is unknown. */
export function failureReply(what: string, error: unknown): BotMessage {
  const codeText = typeof error === 'object' && error !== null && 'code' in error ? ` (${String(error.code)})` : '';
  return paragraphs(`❌ Could not ${what}${escapeText(codeText)}. Check \`/runbook status\` before trying again.`);
}

/** No run has that id. */
export function runNotFoundReply(runId: string): BotMessage {
  return paragraphs(`🤷 There is no run ${code(runId)}. \`/runbook status\` lists your recent runs.`);
}

const STEP_STATE_WORDS: Partial<Record<StepState['status'], string>> = {
  pending: 'not open yet',
  succeeded: 'already decided',
  failed: 'closed (rejected or expired)',
  skipped: 'skipped',
};

/** What {@link ignoredReply} needs to name the run and step. */
export interface IgnoredContext {
  readonly run: RunRecord;
  readonly runbook: Runbook;
  readonly step?: Step;
}

/** Why a click or a cancel changed nothing, from the engine's reason. */
export function ignoredReply(reason: string | undefined, { run, runbook, step }: IgnoredContext): BotMessage {
  const stepName = step ? `*${escapeText(step.title)}* (${code(step.id)})` : 'that step';
  const state = step ? run.snapshot.context.steps[step.id]?.status : undefined;
  const where = ` in run ${code(run.id)} of \`${escapeText(runbook.id)}\``;
  const text = ((): string => {
    switch (reason) {
      case 'self_approval':
        return `🙅 You requested this run, and \`${escapeText(runbook.id)}\` does not allow self-approval: someone else must approve ${stepName}${where}.`;
      case 'not_eligible':
        return `🙅 You are not among the approvers of ${stepName}${where}: it ${step ? describeGate(gateOf(step)) : 'has a list of approvers'}.`;
      case 'already_approved':
        return `☑️ You have already approved ${stepName}${where}; the remaining approvals must come from other people.`;
      case 'approval_not_open':
        return `⌛ ${stepName}${where} is no longer waiting for approval (it is ${state ? (STEP_STATE_WORDS[state] ?? state.replace(/_/g, ' ')) : 'closed'}). Nothing changed.`;
      case 'manual_not_open':
        return `⌛ ${stepName}${where} is not waiting to be marked done or skipped (it is ${state ? (STEP_STATE_WORDS[state] ?? state.replace(/_/g, ' ')) : 'closed'}). Nothing changed.`;
      case 'run_finished':
        return `🏁 Run ${code(run.id)} has already finished (${run.status.replace(/_/g, ' ')}). Nothing changed.`;
      case 'not_cancellable':
        return `↩️ Run ${code(run.id)} is rolling back and cannot be cancelled until the rollback finishes.`;
      case 'unknown_step':
        return `🤷 Run ${code(run.id)} has no step ${stepName}.`;
      default:
        return `Nothing changed in run ${code(run.id)} (${escapeText(reason ?? 'no reason given')}).`;
    }
  })();
  return paragraphs(text);
}

/** The decision was applied. */
export function decisionReply(kind: 'approve' | 'reject' | 'done' | 'skip' | 'cancel', run: RunRecord, step: Step | undefined): BotMessage {
  const stepName = step ? `*${escapeText(step.title)}*` : 'the run';
  switch (kind) {
    case 'approve': {
      const quorum = step ? gateOf(step).quorum : 1;
      const count = step ? (run.snapshot.context.steps[step.id]?.approvals?.length ?? quorum) : quorum;
      const rest = count >= quorum ? 'the run continues' : `${quorum - count} more approval${quorum - count === 1 ? '' : 's'} needed`;
      return paragraphs(`✅ You approved ${stepName} of run ${code(run.id)} (${count}/${quorum}); ${rest}.`);
    }
    case 'reject':
      return paragraphs(`🚫 You rejected ${stepName} of run ${code(run.id)}; the run ${run.status === 'active' ? 'is rolling back, then ends rejected' : `is ${run.status.replace(/_/g, ' ')}`}.`);
    case 'done':
      return paragraphs(`✔️ You marked ${stepName} of run ${code(run.id)} done.`);
    case 'skip':
      return paragraphs(`⏭️ You skipped ${stepName} of run ${code(run.id)}.`);
    case 'cancel':
      return paragraphs(run.status === 'active'
        ? `⏹️ Cancelling run ${code(run.id)}: its completed steps are being undone first.`
        : `⏹️ Cancelled run ${code(run.id)}.`);
  }
}

const ACTIVE_STEP = new Set<StepState['status']>(['running', 'retrying', 'waiting', 'awaiting_approval', 'awaiting_manual', 'undoing']);

/** `approve (awaiting approval)` for an active run. */
function currentStepOf(run: RunRecord): string | undefined {
  if (run.status !== 'active') return undefined;
  const entry = Object.entries(run.snapshot.context.steps).find(([, s]) => ACTIVE_STEP.has(s.status));
  return entry ? `${entry[0]} (${entry[1].status.replace(/_/g, ' ')})` : undefined;
}

const STATUS_ICON: Record<RunRecord['status'], string> = { active: '🔄', succeeded: '✅', failed: '❌', rejected: '🚫', cancelled: '⏹️', rolled_back: '↩️' };

/** One run: status, requester, params and every step's state. */
export function runStatusReply(run: RunRecord, runbook: Runbook): BotMessage {
  const current = currentStepOf(run);
  const steps = runbook.steps.map((step) => {
    const state = run.snapshot.context.steps[step.id];
    const approvals = state?.approvals?.length ? ` — approved by ${state.approvals.map((a) => who(a.by.id)).join(', ')}` : '';
    return `• ${code(step.id)} ${escapeText(state?.status.replace(/_/g, ' ') ?? 'pending')}${approvals}`;
  });
  return paragraphs(
    `${STATUS_ICON[run.status]} Run ${code(run.id)} of *${escapeText(runbook.title)}* is *${run.status.replace(/_/g, ' ')}*${current ? `, at ${escapeText(current)}` : ''}.`,
    `Requested by ${who(run.requester.id)} with ${formatParams(run.params, runbook)}.`,
    steps.join('\n'),
  );
}

/** The caller's recent runs. */
export function recentRunsReply(runs: readonly RunRecord[], userId: string): BotMessage {
  if (runs.length === 0) return paragraphs(`You (${who(userId)}) have no recent runs. Start one with \`/runbook <runbook> …\`; \`/runbook list\` shows them.`);
  const lines = runs.map((run) => {
    const current = currentStepOf(run);
    return `${STATUS_ICON[run.status]} ${code(run.id)} \`${escapeText(run.runbookId)}\` ${run.status.replace(/_/g, ' ')}${current ? ` at ${escapeText(current)}` : ''}`;
  });
  return paragraphs(`Your recent runs:\n${lines.join('\n')}`, '`/runbook status <run>` shows one in detail.');
}

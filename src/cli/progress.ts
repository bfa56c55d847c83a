/**
 * Live progress of a run in the terminal. `ProgressRenderer` turns successive reads of a run into
 * one line per step state change (pure: same reads, same lines); `LiveOutput` writes them and,
 * only on a TTY, keeps a spinner with the elapsed time of the step in flight below them. Off a TTY
 * no control codes are written, so CI logs stay clean.
 */
import type { RunRecord } from '../engine/run-store.ts';
import { approvalMessage } from '../machines/run-logic.ts';
import type { Runbook, Step } from '../machines/ir.ts';
import type { StepState } from '../machines/run-types.ts';
import { currentStep, describeGate, formatDecision, formatElapsed, formatError, formatOutput, gateOf, stepElapsedMs, truncate, type Redactor } from './run-view.ts';

/** How many lines of a manual step's instructions are shown. */
const MAX_INSTRUCTION_LINES = 8;

const UNDO_STATUSES = new Set<StepState['status']>(['undoing', 'undone', 'undo_failed']);

/** Turns successive reads of one run into lines, one per step state change. */
export class ProgressRenderer {
  private readonly seen = new Map<string, { readonly signature: string; readonly state: StepState }>();

  constructor(
    private readonly runbook: Runbook,
    private readonly redact: Redactor,
  ) {}

  /**
   * Lines for every step whose state changed since the previous call: forward steps in runbook
   * order, then undo steps in reverse (a rollback undoes the most recent step first).
   */
  changes(run: RunRecord): string[] {
    const lines: string[] = [];
    const undoing = (step: Step) => UNDO_STATUSES.has(run.snapshot.context.steps[step.id]?.status ?? 'pending');
    const ordered = [...this.runbook.steps.filter((s) => !undoing(s)), ...this.runbook.steps.filter(undoing).reverse()];
    for (const step of ordered) {
      const state = run.snapshot.context.steps[step.id];
      if (!state) continue;
      const signature = `${state.status}:${state.attempt}:${state.undoAttempt ?? 0}:${state.approvals?.length ?? 0}`;
      const before = this.seen.get(step.id);
      if (before?.signature === signature) continue;
      this.seen.set(step.id, { signature, state });
      lines.push(...this.describe(step, state, before?.state, run));
    }
    return lines;
  }

  /** The spinner text for the step in flight, if any. */
  spinner(run: RunRecord, now: number): string | undefined {
    const current = currentStep(run);
    if (!current) return undefined;
    const elapsed = stepElapsedMs(run.snapshot.context.steps[current.id], now, run.createdAt);
    return `${current.id} ${current.status.replace(/_/g, ' ')}${elapsed === undefined ? '' : ` · ${formatElapsed(elapsed)}`}`;
  }

  private describe(step: Step, state: StepState, before: StepState | undefined, run: RunRecord): string[] {
    const took = stepElapsedMs(state, run.updatedAt, run.createdAt);
    const duration = took === undefined ? '' : ` (${formatElapsed(took)})`;
    switch (state.status) {
      case 'pending':
        return [];
      case 'running':
        return before?.status === 'retrying' ? [] : [`▶ ${step.id}${state.attempt > 1 ? ` (attempt ${state.attempt})` : ''}`];
      case 'retrying':
        return [`↻ retrying ${step.id} (attempt ${state.attempt + 1})${state.error ? ` after ${formatError(state.error, this.redact)}` : ''}`];
      case 'waiting':
        return [`⏳ ${step.id}: waiting`];
      case 'awaiting_approval':
        return this.approvalLines(step, state, before, run);
      case 'awaiting_manual':
        return this.manualLines(step);
      case 'succeeded':
        return this.successLines(step, state, duration);
      case 'failed':
        return [this.failureLine(step, state)];
      case 'skipped':
        return [`⏭ ${step.id} skipped${state.decidedBy ? ` by ${formatDecision(state.decidedBy)}` : step.when ? ` (\`when: ${step.when}\` is false)` : ''}`];
      case 'undoing':
        return [`↩ undoing ${step.id}${(state.undoAttempt ?? 1) > 1 ? ` (attempt ${state.undoAttempt})` : ''}`];
      case 'undone':
        return [`↩ undid ${step.id}`];
      case 'undo_failed':
        return [`✖ undo of ${step.id} failed${state.error ? `: ${formatError(state.error, this.redact)}` : ''}`];
      default:
        return [];
    }
  }

  private approvalLines(step: Step, state: StepState, before: StepState | undefined, run: RunRecord): string[] {
    const gate = gateOf(step);
    const approvals = state.approvals ?? [];
    if (before?.status === 'awaiting_approval') {
      const latest = approvals.at(-1);
      return latest ? [`  ✓ approved by ${formatDecision(latest)} (${approvals.length}/${gate.quorum})`] : [];
    }
    const message = this.redact(approvalMessage(step, run.snapshot.context));
    return [`⏸ waiting for approval: ${truncate(message)}`, `  ${step.id}: ${describeGate(gate)}`];
  }

  private manualLines(step: Step): string[] {
    const instructions = step.instructions.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim().length > 0);
    const shown = instructions.slice(0, MAX_INSTRUCTION_LINES).map((l) => `  │ ${truncate(l)}`);
    if (instructions.length > MAX_INSTRUCTION_LINES) shown.push(`  │ … (${instructions.length - MAX_INSTRUCTION_LINES} more lines in the runbook)`);
    return [`✋ manual step ${step.id}: ${step.title}`, ...shown];
  }

  private successLines(step: Step, state: StepState, duration: string): string[] {
    if (step.kind === 'approval') {
      const by = (state.approvals ?? []).map((d) => formatDecision(d)).join(', ');
      return [`✔ ${step.id} approved${by ? ` by ${by}` : ''}${duration}`];
    }
    if (step.kind === 'manual') return [`✔ ${step.id} done${state.decidedBy ? ` by ${formatDecision(state.decidedBy)}` : ''}${duration}`];
    const output = formatOutput(state.output, this.redact);
    return [`✔ ${step.id}${duration}`, ...(output ? [`  → ${output}`] : [])];
  }

  private failureLine(step: Step, state: StepState): string {
    if (step.kind === 'approval' && state.decidedBy) {
      const reason = state.decidedBy.reason ? `: ${truncate(this.redact(state.decidedBy.reason))}` : '';
      return state.error?.code === 'approval_expired' ? `✖ ${step.id}: approval expired` : `✖ ${step.id} rejected by ${formatDecision(state.decidedBy)}${reason}`;
    }
    const attempts = state.attempt > 1 ? ` (after ${state.attempt} attempts)` : '';
    return `✖ ${step.id}: ${state.error ? formatError(state.error, this.redact) : 'failed'}${attempts}`;
  }
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[2K';

/** Writes progress lines; on a TTY, also a spinner line that each new line pushes down. */
export class LiveOutput {
  private source: (() => string | undefined) | undefined;
  private frame = 0;
  private drawn = false;
  private paused = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly isTTY: boolean,
  ) {}

  /** Writes a line; the spinner comes back on its next tick, below it. */
  line(text: string): void {
    this.clear();
    this.write(`${text}\n`);
  }

  /** Shows a spinner with whatever `source` says (nothing when it says undefined); a no-op off a TTY. */
  follow(source: () => string | undefined): void {
    if (!this.isTTY) return;
    this.source = source;
    this.timer ??= setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  /** Hides the spinner while a prompt owns the cursor. */
  pause(): void {
    this.clear();
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.source = undefined;
    this.clear();
  }

  private draw(): void {
    if (!this.isTTY || this.paused) return;
    const text = this.source?.();
    if (text === undefined) {
      this.clear();
      return;
    }
    this.frame = (this.frame + 1) % FRAMES.length;
    this.write(`${CLEAR_LINE}${FRAMES[this.frame] ?? ''} ${text}`);
    this.drawn = true;
  }

  private clear(): void {
    if (!this.drawn) return;
    this.write(CLEAR_LINE);
    this.drawn = false;
  }
}

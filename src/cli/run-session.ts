/**
 * Following one run from the terminal that started it: re-reads the run on every update the
 * engine publishes (and every 500 ms, in case a message is missed), prints what changed, answers
 * approvals and manual steps (at the prompt, or by itself with `--yes`), and handles Ctrl-C:
 * the first offers to cancel, the second leaves the run to the workers.
 */
import type { Engine } from '../engine/engine.ts';
import type { RunRecord } from '../engine/run-store.ts';
import type { Runbook, Step } from '../machines/ir.ts';
import type { Person, RunEvent } from '../machines/run-types.ts';
import type { App } from './bootstrap.ts';
import { LiveOutput, ProgressRenderer } from './progress.ts';
import { askChoice, type Terminal } from './prompt.ts';
import { EXIT_CODES, explainIgnored, gateOf, personName, redactorFor } from './run-view.ts';

/** How often the run is re-read even without an update message. */
const POLL_INTERVAL_MS = 500;

/** What a session follows, as whom, and where it writes. */
export interface RunSessionOptions {
  readonly app: App;
  readonly run: RunRecord;
  readonly runbook: Runbook;
  /** The local user: requester of the run, and who answers at the prompt. */
  readonly requester: Person;
  /** Answer every prompt without asking: approve as the local user, mark manual steps done. */
  readonly yes: boolean;
  readonly terminal: Terminal;
  readonly write: (text: string) => void;
}

/** How following ended: the run finished, or the user left it running (exit code given). */
export type SessionEnd =
  | { readonly kind: 'finished'; readonly run: RunRecord }
  | { readonly kind: 'left'; readonly run: RunRecord; readonly exitCode: number };

type Decision = 'approval' | 'manual';

/** One run followed at the terminal; `follow()` resolves when it ends or is left. */
export class RunSession {
  private readonly engine: Engine;
  private readonly output: LiveOutput;
  private readonly renderer: ProgressRenderer;
  private last: RunRecord;
  /** The open step already offered to the user (`step:status:attempt`). */
  private offered: string | undefined;
  /** The open question about a step, and the Ctrl-C confirmation: withdrawn separately. */
  private question: AbortController | undefined;
  private cancelQuestion: AbortController | undefined;
  private questionDone: Promise<unknown> = Promise.resolve();
  private confirmingCancel = false;
  /** The prompt on screen, settled once its readline interface is closed. */
  private asked: Promise<unknown> = Promise.resolve();
  private leaving = false;
  private readonly inFlight = new Set<Promise<void>>();
  private interrupts = 0;
  private cancelSent = false;
  private refreshing = false;
  private dirty = false;
  private ended = false;
  private finish: (end: SessionEnd) => void = () => undefined;

  constructor(private readonly options: RunSessionOptions) {
    this.engine = options.app.runtime.engine;
    this.last = options.run;
    this.output = new LiveOutput(options.write, options.terminal.stdoutIsTTY);
    this.renderer = new ProgressRenderer(options.runbook, redactorFor(options.run, options.runbook));
  }

  private get runId(): string {
    return this.options.run.id;
  }

  /** Follows the run until it finishes or the user leaves it. */
  async follow(): Promise<SessionEnd> {
    const done = new Promise<SessionEnd>((resolve) => (this.finish = resolve));
    const { runtime } = this.options.app;
    const subscriber = runtime.subscriber();
    subscriber.on('message', (_channel: string, runId: string) => runId === this.runId && this.schedule());
    await subscriber.subscribe(runtime.keys.updatesChannel);
    const poll = setInterval(() => this.schedule(), POLL_INTERVAL_MS);
    const onSigint = () => this.interrupt();
    const onSigterm = () => void this.leave(143);
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    this.output.follow(() => this.renderer.spinner(this.last, Date.now()));
    this.schedule();
    try {
      return await done;
    } finally {
      clearInterval(poll);
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      this.output.stop();
      await this.asked;
      if (!this.leaving) await Promise.all(this.inFlight); // leaving must not hang on a stuck Redis
      await subscriber.quit().catch(() => subscriber.disconnect());
    }
  }

  private line(text: string): void {
    if (!this.ended) this.output.line(text);
  }

  /** Re-reads the run; reads never overlap, and a request during one triggers another after it. */
  private schedule(): void {
    if (this.ended) return;
    if (this.refreshing) {
      this.dirty = true;
      return;
    }
    this.refreshing = true;
    void this.refresh()
      .catch((error: unknown) => this.line(`⚠ could not read run ${this.runId}: ${messageOf(error)}`))
      .finally(() => {
        this.refreshing = false;
        if (this.dirty) {
          this.dirty = false;
          this.schedule();
        }
      });
  }

  private async refresh(): Promise<void> {
    const run = await this.engine.getRun(this.runId);
    if (!run || this.ended) return;
    this.last = run;
    const open = openDecision(this.options.runbook, run);
    if (open?.key !== this.offered && this.question) {
      // Decided elsewhere: take the question off the screen before printing what happened.
      this.withdraw();
      await this.questionDone;
    }
    for (const text of this.renderer.changes(run)) this.line(text);
    if (run.status !== 'active') this.end({ kind: 'finished', run });
    else if (open) this.offerDecision(open);
  }

  /** Offers the open approval or manual step to the user, once per step and attempt. */
  private offerDecision(open: OpenDecision): void {
    if (open.key === this.offered || this.confirmingCancel || this.cancelSent) return;
    this.offered = open.key;
    this.questionDone = this.decide(open.step, open.kind).catch((error: unknown) => this.line(`⚠ ${messageOf(error)}`));
  }

  private async decide(step: Step, kind: Decision): Promise<void> {
    const by = this.options.requester;
    if (this.options.yes) {
      await this.send(step, kind === 'approval' ? { type: 'approval.granted', stepId: step.id, by } : { type: 'manual.done', stepId: step.id, by });
      return;
    }
    if (!this.options.terminal.stdinIsTTY) {
      this.line(this.elsewhereHint(step, kind));
      return;
    }
    if (kind === 'manual') {
      const answer = await this.askAboutStep(`Done? [d(one)/s(kip)] `, ['done', 'skip'], undefined);
      if (answer) await this.send(step, answer === 'done' ? { type: 'manual.done', stepId: step.id, by } : { type: 'manual.skipped', stepId: step.id, by });
      return;
    }
    const answer = await this.askAboutStep(`Approve ${step.id} as ${personName(by)}? [y/N/r(eject)] `, ['yes', 'no', 'reject'], 'no');
    if (answer === 'no') this.line(`  not approved here; ${this.elsewhereHint(step, kind)}`);
    if (answer === 'yes') await this.send(step, { type: 'approval.granted', stepId: step.id, by });
    if (answer === 'reject') await this.send(step, { type: 'approval.rejected', stepId: step.id, by, reason: 'rejected at the terminal' });
  }

  private elsewhereHint(step: Step, kind: Decision): string {
    const groups = gateOf(step).from.filter((entry) => entry.startsWith('@'));
    const as = `--as NAME${groups.length > 0 ? ` [--groups ${groups.join(',')}]` : ''}`;
    return kind === 'approval'
      ? `  waiting for an approver: runbook approve ${this.runId} ${as} (or runbook reject ${this.runId} ${as} --reason TEXT)`
      : `  waiting for the step to be marked: runbook done ${this.runId} ${step.id} (or runbook skip ${this.runId} ${step.id})`;
  }

  private async send(step: Step, event: RunEvent): Promise<void> {
    const result = await this.sendEvent(event);
    if (!result.applied) {
      this.line(`⚠ ${explainIgnored(result.reason, { run: result.run, person: this.options.requester, step })}`);
      if (event.type === 'approval.granted' && result.reason !== 'run_finished') this.line(this.elsewhereHint(step, 'approval'));
    }
    this.schedule();
  }

  /**
   * Sends an event and tracks it until it settles: `send` commits, then drains the outbox (audit,
   * dispatch). The run may be seen finished before the drain is done; closing the app then would
   * cut the drain short, and with an embedded Redis nobody else would finish it.
   */
  private sendEvent(event: RunEvent): ReturnType<Engine['send']> {
    const sent = this.engine.send(this.runId, event);
    const settled = sent.then(() => undefined, () => undefined);
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return sent;
  }

  private async askAboutStep<T extends string>(question: string, choices: readonly T[], fallback: T | undefined): Promise<T | undefined> {
    const controller = new AbortController();
    this.question = controller;
    try {
      return await this.ask(question, choices, fallback, controller.signal);
    } finally {
      if (this.question === controller) this.question = undefined;
    }
  }

  private async ask<T extends string>(question: string, choices: readonly T[], fallback: T | undefined, signal: AbortSignal): Promise<T | undefined> {
    this.output.pause();
    const asked = askChoice(this.options.terminal, question, choices, fallback, { signal, onInterrupt: () => this.interrupt() });
    this.asked = asked.catch(() => undefined);
    try {
      return await asked;
    } finally {
      this.output.resume();
    }
  }

  /** Withdraws the question about a step (decided elsewhere, or Ctrl-C). */
  private withdraw(): void {
    this.question?.abort();
    this.question = undefined;
  }

  /** Ctrl-C: the first offers to cancel (cancels at once without a TTY), the next leaves. */
  private interrupt(): void {
    this.interrupts += 1;
    if (this.interrupts > 1 || this.cancelSent) {
      void this.leave(EXIT_CODES.interrupted);
      return;
    }
    if (!this.options.terminal.stdinIsTTY) {
      void this.cancel();
      return;
    }
    void this.confirmCancel();
  }

  private async confirmCancel(): Promise<void> {
    this.confirmingCancel = true;
    this.withdraw();
    await this.questionDone;
    this.offered = undefined; // a decision interrupted by Ctrl-C is offered again if the run goes on
    this.cancelQuestion = new AbortController();
    const answer = await this.ask(`Cancel run ${this.runId}? [y/N] `, ['yes', 'no'], 'no', this.cancelQuestion.signal);
    this.cancelQuestion = undefined;
    this.confirmingCancel = false;
    if (answer === 'yes') await this.cancel();
    else if (answer === 'no') this.interrupts = 0;
    this.schedule();
  }

  private async cancel(): Promise<void> {
    if (this.cancelSent || this.ended) return;
    this.cancelSent = true;
    this.line(`⏹ cancelling run ${this.runId}… (Ctrl-C again to stop waiting and leave it to the workers)`);
    try {
      const result = await this.sendEvent({ type: 'run.cancel', by: this.options.requester, reason: 'Ctrl-C at the terminal' });
      if (!result.applied) this.line(`⚠ ${explainIgnored(result.reason, { run: result.run, person: this.options.requester })}`);
    } catch (error) {
      this.line(`⚠ could not cancel: ${messageOf(error)}`);
    }
    this.schedule();
  }

  private async leave(exitCode: number): Promise<void> {
    if (this.ended || this.leaving) return;
    this.leaving = true;
    this.withdraw();
    this.cancelQuestion?.abort();
    // readline ends an aborted prompt's line when it closes: wait for that before writing.
    await this.asked;
    this.line(`Leaving run ${this.runId} ${this.last.status === 'active' ? 'active' : this.last.status}: a worker process (\`runbook worker\`) and its reconciler carry it on; follow it with \`runbook status ${this.runId}\`.`);
    this.end({ kind: 'left', run: this.last, exitCode });
  }

  private end(end: SessionEnd): void {
    if (this.ended) return;
    this.withdraw();
    this.cancelQuestion?.abort();
    this.ended = true;
    this.finish(end);
  }
}

interface OpenDecision {
  readonly step: Step;
  readonly kind: Decision;
  /** `step:status:attempt`: offered once. */
  readonly key: string;
}

/** The step waiting for a person, if any. */
function openDecision(runbook: Runbook, run: RunRecord): OpenDecision | undefined {
  for (const step of runbook.steps) {
    const state = run.snapshot.context.steps[step.id];
    if (state?.status === 'awaiting_approval' || state?.status === 'awaiting_manual') {
      return { step, kind: state.status === 'awaiting_approval' ? 'approval' : 'manual', key: `${step.id}:${state.status}:${state.attempt}` };
    }
  }
  return undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Turns effects into jobs and messages. Every job id is deterministic, so dispatching the same
 * outbox entry twice (after a crash between dispatch and marking it drained) adds nothing twice.
 */
import type { Redis } from 'ioredis';
import type { Effect } from '../machines/run-types.ts';
import { jobId, type EngineKeys } from './keys.ts';
import { NOTIFY_JOB_OPTIONS, STEP_JOB_OPTIONS, TIMER_JOB_OPTIONS, type EngineQueues } from './queues.ts';

export interface AbortMessage {
  readonly runId: string;
  readonly stepId: string;
  readonly phase: 'do' | 'undo';
  readonly attempt: number;
}

export const stepJobId = (runId: string, stepId: string, phase: string, attempt: number) => jobId(runId, stepId, phase, attempt);
export const timerJobId = (runId: string, timerId: string) => jobId(runId, 'timer', timerId);

export class Dispatcher {
  constructor(
    private readonly queues: EngineQueues,
    private readonly publisher: Redis,
    private readonly keys: EngineKeys,
  ) {}

  async dispatch(runId: string, version: number, effects: readonly Effect[]): Promise<void> {
    for (const [index, effect] of effects.entries()) await this.dispatchOne(runId, version, index, effect);
  }

  private async dispatchOne(runId: string, version: number, index: number, effect: Effect): Promise<void> {
    switch (effect.kind) {
      case 'step.run':
        await this.queues.steps.add(
          'step',
          {
            runId,
            stepId: effect.stepId,
            phase: effect.phase,
            attempt: effect.attempt,
            executor: effect.executor,
            input: effect.input,
            ...(effect.timeoutMs !== undefined ? { timeoutMs: effect.timeoutMs } : {}),
            idempotencyKey: effect.idempotencyKey.join('/'),
          },
          { ...STEP_JOB_OPTIONS, jobId: stepJobId(runId, effect.stepId, effect.phase, effect.attempt) },
        );
        return;
      case 'timer.schedule':
        await this.queues.timers.add('timer', { runId, timerId: effect.timerId }, { ...TIMER_JOB_OPTIONS, delay: effect.delayMs, jobId: timerJobId(runId, effect.timerId) });
        return;
      case 'timer.cancel':
        // A timer that already fired, or is firing right now, is harmless: the machine ignores it.
        await this.queues.timers.remove(timerJobId(runId, effect.timerId)).catch(() => 0);
        return;
      case 'step.abort': {
        const message: AbortMessage = { runId, stepId: effect.stepId, phase: effect.phase, attempt: effect.attempt };
        await this.publisher.publish(this.keys.abortChannel, JSON.stringify(message));
        return;
      }
      default:
        await this.queues.notify.add('effect', { runId, version, effect }, { ...NOTIFY_JOB_OPTIONS, jobId: jobId(runId, 'v', version, index) });
    }
  }
}

import { describe, expect, it } from 'vitest';
import { UnrecoverableError } from 'bullmq';
import { reminderText } from '../../../src/bot/escalations.ts';
import { composeNotifiers, forEffects } from '../../../src/bot/notifier-composite.ts';
import { escalationLine } from '../../../src/bot/run-message/escalations.ts';
import { formatEscalations } from '../../../src/cli/run-view.ts';
import type { NotifyJob } from '../../../src/engine/queues.ts';

const iso = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const T0 = Date.UTC(2025, 0, 31, 10, 32);

describe('escalationLine', () => {
  describe('when rungs fired', () => {
    it('says who was reminded and what was paged, and when', () => {
      const line = escalationLine({ escalations: [{ rung: 0, at: T0, notify: ['@ml-oncall-leads', 'U024BE7LH'] }, { rung: 1, at: T0 + 600_000, page: { escalationPolicy: 'PABC123' } }] }, iso);
      expect(line).toBe('⏰ Reminded @ml-oncall-leads, <@U024BE7LH> at 10:32 · Paged PABC123 at 10:42');
    });
  });

  describe('when none fired', () => {
    it('shows nothing', () => {
      expect(escalationLine({ escalations: [] })).toBeUndefined();
      expect(formatEscalations({})).toBeUndefined();
    });
  });

  describe('when a manual step is overdue', () => {
    it('says so in the CLI too', () => {
      expect(formatEscalations({ escalations: [{ rung: 1, at: T0, expired: true, notify: ['@sre'] }] })).toBe('escalated: overdue, reminded @sre 2025-01-31 10:32:00Z');
    });
  });
});

describe('reminderText', () => {
  it('names the step, the wait and the people', () => {
    const text = reminderText({ kind: 'escalation.fire', stepId: 'approve', rung: 0, afterMs: 600_000, waitingFor: 'approval' }, 'Approve the rollback', ['<!subteam^S1>'], 'r-1');
    expect(text).toBe('⏰ “Approve the rollback” has waited 10m for an approval. <!subteam^S1> (run `r-1`)');
  });
});

describe('composeNotifiers', () => {
  const job = (kind: 'escalation.fire' | 'run.updated'): NotifyJob => ({ runId: 'r', version: 1, effect: kind === 'run.updated' ? { kind } : { kind, stepId: 's', rung: 0, afterMs: 1, waitingFor: 'manual' } });

  describe('when parts accept different jobs', () => {
    it('gives each part only its jobs', async () => {
      const seen: string[] = [];
      const notify = composeNotifiers([
        { name: 'all', notifier: async (j) => void seen.push(`all:${j.effect.kind}`) },
        { name: 'escalations', accepts: forEffects('escalation.fire'), notifier: async (j) => void seen.push(`esc:${j.effect.kind}`) },
      ]);
      await notify(job('run.updated'));
      await notify(job('escalation.fire'));
      expect(seen).toEqual(['all:run.updated', 'all:escalation.fire', 'esc:escalation.fire']);
    });
  });

  describe('when a part fails', () => {
    it('still runs the others, and prefers a retryable failure', async () => {
      const seen: string[] = [];
      const notify = composeNotifiers([
        { name: 'a', notifier: async () => { throw new UnrecoverableError('permanent'); } },
        { name: 'b', notifier: async () => { throw new Error('transient'); } },
        { name: 'c', notifier: async () => void seen.push('c') },
      ]);
      await expect(notify(job('run.updated'))).rejects.toThrow('transient');
      expect(seen).toEqual(['c']);
    });
  });
});

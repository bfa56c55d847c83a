/**
 * The Slack notifier end to end: a real engine runtime on Redis (fresh prefix), the notify worker,
 * the real `@slack/web-api` client over HTTP against the loopback Slack stand-in.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LogLevel } from '@slack/web-api';
import { createSlackNotifier, lateBoundNotifier, type SlackNotifierOptions } from '../../../src/bot/notifier.ts';
import { createRuntime, type Runtime } from '../../../src/engine/runtime.ts';
import type { RunRecord } from '../../../src/engine/run-store.ts';
import { createSlackClient } from '../../../src/integrations/slack.ts';
import type { Person } from '../../../src/machines/run-types.ts';
import { startSlackStandIn, type SlackStandIn, type StandInMessage } from '../../../src/sandbox/slack.ts';
import { createTestEngine, quietLogger, REDIS_URL, testCatalog, type TestEngine } from '../../helpers/engine.ts';
import { until } from '../../helpers/wait.ts';

const CHANNEL = 'C123';
const alice: Person = { id: 'U0REQUEST1', name: 'alice' };
const bob: Person = { id: 'U0APPROVE1', name: 'bob' };

const LIFECYCLE = `---
title: Notifier lifecycle
params:
  target: { type: string }
  token: { type: string, secret: true, required: false }
---
# Lifecycle

## Prepare {#prepare}
Say **hello** in the channel, then press _Done_.

## Apply {#apply}
\`\`\`record
label: "apply {{ params.target }} {{ params.token | default: '' }}"
timeout: 10s
\`\`\`

## Approve {#approve}
\`\`\`approve
message: "Ship {{ params.target }}?"
\`\`\`

## Confirm {#confirm}
Check the dashboards.
`;

/** A checklist of `n` manual steps `m1` … `mn`. */
const checklist = (n: number) => `# Checklist\n\n${Array.from({ length: n }, (_, i) => `## Step ${i + 1} {#m${i + 1}}\nDo thing ${i + 1}.\n`).join('\n')}`;

interface Harness {
  readonly t: TestEngine;
  readonly standIn: SlackStandIn;
  /** When each Slack call reached the stand-in (sampled every few ms), by index in `state.calls`. */
  start(source: string, params?: Record<string, string>, origin?: RunRecord['origin'] | null): Promise<RunRecord>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function slackClient(standIn: SlackStandIn) {
  return createSlackClient({ token: 'xoxb-test-token', apiUrl: standIn.url, retries: 0, rejectRateLimitedCalls: true, timeoutMs: 5_000, logLevel: LogLevel.ERROR });
}

async function harness(extra: Partial<SlackNotifierOptions> = {}): Promise<Harness> {
  const standIn = await startSlackStandIn();
  const late = lateBoundNotifier();
  const t = await createTestEngine({ notifier: late.notifier });
  late.bind(createSlackNotifier({ slack: slackClient(standIn), redis: t.redis, prefix: t.prefix, engine: t.runtime.engine, queue: t.runtime.queues.notify, logger: quietLogger, ...extra }));
  cleanups.push(async () => {
    await t.close();
    await standIn.close();
  });
  let n = 0;
  const start = (source: string, params: Record<string, string> = {}, origin: RunRecord['origin'] | null = { kind: 'slack', channel: CHANNEL }) =>
    t.runtime.engine.startRun({ file: `notifier-${(n += 1)}.md`, source, params, requester: alice, ...(origin ? { origin } : {}) });
  return { t, standIn, start };
}

const topLevel = (h: Harness) => h.standIn.state.messagesIn(CHANNEL).filter((m) => m.thread_ts === undefined);
const repliesTo = (h: Harness, ts: string) => h.standIn.state.messagesIn(CHANNEL).filter((m) => m.thread_ts === ts);
const shows = (message: StandInMessage | undefined, text: string) => message !== undefined && JSON.stringify(message.blocks ?? '').includes(text);
const messageOf = (h: Harness, runId: string) => topLevel(h).find((m) => JSON.stringify(m.blocks ?? '').includes(runId));
/** Indexes (into `state.calls`) of successful calls to `method`, top-level posts only for postMessage. */
const callIndexes = (h: Harness, method: string, outcome = 'ok') =>
  h.standIn.state.calls.flatMap((c, i) => (c.method === method && c.outcome === outcome && !(method === 'chat.postMessage' && c.args['thread_ts']) ? [i] : []));

describe('Slack notifier', () => {
  describe('when a run is started from Slack', () => {
    it('posts one message on the first effect, updates it in place to the final state, and threads the outputs', async () => {
      const h = await harness();
      const run = await h.start(LIFECYCLE, { target: 'alpha', token: 'tok-s3cret' });
      const posted = await until(() => messageOf(h, run.id), 'the run message');
      expect(shows(posted, 'runbook.done')).toBe(true);
      expect(JSON.stringify(h.standIn.state.calls)).toContain('[secret]');

      await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: 'prepare', by: alice });
      await until(() => shows(messageOf(h, run.id), 'runbook.approve'), 'the approval buttons');
      await h.t.runtime.engine.send(run.id, { type: 'approval.granted', stepId: 'approve', by: bob });
      await h.t.waitFor(run.id, (r) => r.snapshot.context.steps['confirm']?.status === 'awaiting_manual');
      await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: 'confirm', by: alice });
      await h.t.settled(run.id);

      const final = await until(() => (shows(messageOf(h, run.id), '✅ *Succeeded*') ? messageOf(h, run.id) : undefined), 'the final state');
      expect(topLevel(h)).toHaveLength(1);
      expect(callIndexes(h, 'chat.postMessage')).toHaveLength(1);
      expect(callIndexes(h, 'chat.update').length).toBeGreaterThanOrEqual(2);
      expect(shows(final, 'approved by <@U0APPROVE1> at <!date^')).toBe(true);
      expect(shows(final, 'runbook.cancel')).toBe(false);
      expect(shows(final, `runbook audit show ${run.id}`)).toBe(true);
      const replies = await until(() => (repliesTo(h, final.ts).length > 0 ? repliesTo(h, final.ts) : undefined), 'the output in the thread');
      expect(replies).toHaveLength(1);
      // The step worker already masks secrets in outputs (`[redacted]`); the message masks what is left.
      expect(JSON.stringify(replies[0]?.blocks)).toMatch(/```\\n\{\\n {2}\\"key\\": .*\\"label\\": \\"apply alpha \[(redacted|secret)\]\\"/);
      expect(JSON.stringify(h.standIn.state.calls)).not.toContain('tok-s3cret');
    });

    it('does nothing for a run that did not come from Slack', async () => {
      const h = await harness();
      const run = await h.start(checklist(1), {}, null);
      await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: 'm1', by: alice });
      await h.t.settled(run.id);
      await new Promise((r) => setTimeout(r, 300));
      expect(h.standIn.state.calls).toHaveLength(0);
    });
  });

  describe('when many transitions come quickly', () => {
    it('updates at most once a second and always ends on the final state', async () => {
      const h = await harness();
      const steps = 12;
      const run = await h.start(checklist(steps));
      await until(() => messageOf(h, run.id), 'the run message');
      for (let i = 1; i <= steps; i += 1) {
        await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: `m${i}`, by: bob });
        await new Promise((r) => setTimeout(r, 200));
      }
      await h.t.settled(run.id);
      const final = await until(() => (shows(messageOf(h, run.id), '✅ *Succeeded*') ? messageOf(h, run.id) : undefined), 'the final state');
      expect(shows(final, `${steps}. Step ${steps}* — done by <@U0APPROVE1>`) || shows(final, `${steps}. Step ${steps} — done by <@U0APPROVE1>`)).toBe(true);
      const writes = [...callIndexes(h, 'chat.postMessage'), ...callIndexes(h, 'chat.update')].sort((a, b) => a - b).map((i) => h.standIn.state.calls[i]?.at ?? Infinity);
      const updates = callIndexes(h, 'chat.update');
      expect(updates.length).toBeGreaterThanOrEqual(2);
      expect(updates.length).toBeLessThan(steps * 2);
      // Sends are spaced >= 1 s by the notifier; arrival times are sampled, hence the small allowance.
      for (let i = 1; i < writes.length; i += 1) expect((writes[i] ?? 0) - (writes[i - 1] ?? 0)).toBeGreaterThanOrEqual(900);
    });
  });

  describe('when Slack answers 429 with Retry-After', () => {
    it('waits that long, then shows the latest state: nothing lost, nothing out of order', async () => {
      const h = await harness();
      const run = await h.start(checklist(3));
      await until(() => messageOf(h, run.id), 'the run message');
      h.standIn.state.rateLimitNext(1, 2, 'chat.update');
      await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: 'm1', by: bob });
      const limited = await until(() => callIndexes(h, 'chat.update', 'ratelimited')[0], 'the 429');
      await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: 'm2', by: bob });
      await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: 'm3', by: alice });
      await h.t.settled(run.id);
      const final = await until(() => (shows(messageOf(h, run.id), '✅ *Succeeded*') ? messageOf(h, run.id) : undefined), 'the final state');
      expect(shows(final, '3. Step 3 — done by <@U0REQUEST1>')).toBe(true);
      const next = h.standIn.state.calls.findIndex((_, i) => i > limited);
      expect(next).toBeGreaterThan(limited);
      const { calls } = h.standIn.state;
      expect((calls[next]?.at ?? 0) - (calls[limited]?.at ?? 0)).toBeGreaterThanOrEqual(1_900);
      expect(topLevel(h)).toHaveLength(1);
    });
  });

  describe('when the reply to the first post is lost', () => {
    it('finds the message it made by its metadata instead of posting a second one', async () => {
      const h = await harness();
      h.standIn.state.dropNextReply('chat.postMessage');
      const run = await h.start(checklist(1));
      await until(() => callIndexes(h, 'chat.update')[0], 'an update of the adopted message');
      await h.t.runtime.engine.send(run.id, { type: 'manual.done', stepId: 'm1', by: bob });
      await until(() => shows(messageOf(h, run.id), '✅ *Succeeded*'), 'the final state');
      expect(topLevel(h)).toHaveLength(1);
    });
  });

  describe('when two notify workers share the queue', () => {
    it('never posts two messages for one run', async () => {
      const h = await harness();
      const late = lateBoundNotifier();
      const second: Runtime = await createRuntime({
        redisUrl: REDIS_URL, prefix: h.t.prefix, audit: h.t.audit, catalog: testCatalog, executors: new Map(), logger: quietLogger,
        workers: { notify: true }, workerSettings: { lockDurationMs: 2_000, stalledIntervalMs: 500 }, notifier: late.notifier,
      });
      cleanups.push(() => second.close());
      const other = createSlackNotifier({ slack: slackClient(h.standIn), redis: second.redis, prefix: h.t.prefix, engine: second.engine, queue: second.queues.notify, logger: quietLogger });
      late.bind(other);
      // A skipped first step: the first transition has two notify effects, handled by either worker.
      const source = `---\nparams:\n  mode: { type: string, default: "dry" }\n---\n# Race\n\n## Skipped {#skipped}\n\`\`\`record\nlabel: never\ntimeout: 10s\nwhen: "params.mode == 'apply'"\n\`\`\`\n\n## Manual {#manual}\nPress done.\n`;
      const runs = await Promise.all(Array.from({ length: 6 }, () => h.start(source)));
      // And the same job handed to both notifiers at once, several times.
      const job = { runId: runs[0]?.id ?? '', version: 1, effect: { kind: 'manual.request' as const, stepId: 'manual', instructions: '' } };
      await Promise.all([other(job), other(job), other(job), other(job)]);
      for (const run of runs) await until(() => messageOf(h, run.id), `the message of ${run.id}`);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(topLevel(h)).toHaveLength(runs.length);
      expect(callIndexes(h, 'chat.postMessage')).toHaveLength(runs.length);
    });
  });
});

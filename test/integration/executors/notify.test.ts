/**
 * The `notify` executor with the real `@slack/web-api` client over HTTP against the loopback Slack
 * stand-in (nothing beyond 127.0.0.1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LogLevel } from '@slack/web-api';
import { sleep } from '../../../src/executors/contract.ts';
import { createNotifyExecutor, NOTIFY_EVENT_TYPE, type NotifyExecutorOptions } from '../../../src/executors/notify.ts';
import { createSlackMessenger } from '../../../src/integrations/slack.ts';
import { startSlackStandIn, type SlackStandIn, type SlackStandInOptions } from '../../../src/sandbox/slack.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

const TOKEN = 'xoxb-test-token';
const ML_INCIDENTS = 'C0MLINC001';

const open: SlackStandIn[] = [];
afterEach(async () => {
  for (const standIn of open.splice(0)) await standIn.close();
});

interface Harness {
  readonly standIn: SlackStandIn;
  readonly waits: number[];
  executor(extra?: Partial<NotifyExecutorOptions>): ReturnType<typeof createNotifyExecutor>;
}

/** A stand-in, and executors over the real client; waits are recorded and shortened. */
async function harness(standInOptions: SlackStandInOptions = {}, token = TOKEN): Promise<Harness> {
  const standIn = await startSlackStandIn({ port: 0, ...standInOptions });
  open.push(standIn);
  const waits: number[] = [];
  const slack = createSlackMessenger({ token, apiUrl: standIn.url, retries: 1, timeoutMs: 5_000, logLevel: LogLevel.ERROR });
  const recordWait = (ms: number, signal: AbortSignal) => {
    waits.push(ms);
    return sleep(1, signal);
  };
  return { standIn, waits, executor: (extra = {}) => createNotifyExecutor({ slack, sleep: recordWait, ...extra }) };
}

describe('notify executor', () => {
  describe('when the channel exists', () => {
    it('posts one form-encoded chat.postMessage with the text and the step key in metadata', async () => {
      const { standIn, executor } = await harness();
      const { ctx } = createTestContext({ idempotencyKey: 'run-1/step-a/do/1' });
      const output = await executor().run({ channel: '#ml-incidents', text: 'Rolling back *model-x*' }, ctx);
      expect(output).toEqual({ channel: ML_INCIDENTS, ts: '1700000000.000100', adopted: false });
      const [post, ...more] = standIn.state.calls.filter((c) => c.method === 'chat.postMessage');
      expect(more).toHaveLength(0);
      expect(post?.contentType).toBe('application/x-www-form-urlencoded');
      expect(post?.args).toMatchObject({
        channel: '#ml-incidents', text: 'Rolling back *model-x*', mrkdwn: 'true',
        metadata: { event_type: NOTIFY_EVENT_TYPE, event_payload: { key: 'run-1/step-a/do/1', step: 'run-1/step-a/do' } },
      });
      expect(standIn.state.messagesIn(ML_INCIDENTS).map((m) => m.text)).toEqual(['Rolling back *model-x*']);
    });

    it('replaces secret values in the posted text', async () => {
      const { standIn, executor } = await harness();
      const { ctx } = createTestContext({ secrets: ['hunter2'] });
      await executor().run({ channel: ML_INCIDENTS, text: 'token is hunter2' }, ctx);
      expect(standIn.state.messagesIn(ML_INCIDENTS).map((m) => m.text)).toEqual(['token is [redacted]']);
    });
  });

  describe('when the reply to the post is lost', () => {
    it('finds the message it made and adopts it: one message in the channel', async () => {
      const { standIn, executor } = await harness();
      standIn.state.dropNextReply('chat.postMessage');
      const { ctx } = createTestContext();
      const output = await executor().run({ channel: '#ml-incidents', text: 'Paging the on-call' }, ctx);
      const messages = standIn.state.messagesIn(ML_INCIDENTS);
      expect(messages).toHaveLength(1);
      expect(output).toEqual({ channel: ML_INCIDENTS, ts: messages[0]?.ts, adopted: true });
      expect(standIn.state.callsTo('chat.postMessage')).toHaveLength(1);
    });
  });

  describe('when a later attempt of the same step runs after the first one posted', () => {
    it('adopts the first attempt\'s message instead of posting again', async () => {
      const { standIn, executor } = await harness();
      const first = await executor().run({ channel: '#ml-incidents', text: 'Started' }, createTestContext({ idempotencyKey: 'run-1/step-a/do/1', attempt: 1 }).ctx);
      const retried = await executor().run({ channel: '#ml-incidents', text: 'Started' }, createTestContext({ idempotencyKey: 'run-1/step-a/do/2', attempt: 2 }).ctx);
      expect(retried).toEqual({ ...(first as object), adopted: true });
      expect(standIn.state.messagesIn(ML_INCIDENTS)).toHaveLength(1);
      expect(standIn.state.callsTo('conversations.history').at(-1)).toMatchObject({ channel: ML_INCIDENTS, limit: '50', include_all_metadata: 'true' });
    });

    it('does not adopt the message of another step', async () => {
      const { standIn, executor } = await harness();
      await executor().run({ channel: ML_INCIDENTS, text: 'one' }, createTestContext({ idempotencyKey: 'run-1/step-a/do/1' }).ctx);
      const other = { ...createTestContext({ idempotencyKey: 'run-1/step-b/do/1' }).ctx, stepId: 'step-b' };
      expect(await executor().run({ channel: ML_INCIDENTS, text: 'two' }, other)).toMatchObject({ adopted: false });
      expect(standIn.state.messagesIn(ML_INCIDENTS).map((m) => m.text)).toEqual(['one', 'two']);
    });
  });

  describe('when the channel does not exist', () => {
    it('fails with notify_failed, not retryable, naming channel_not_found', async () => {
      const { executor } = await harness({ strictChannels: true });
      const error = await rejectionOf(executor().run({ channel: '#no-such-channel', text: 'hello' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: false });
      expect(error.message).toContain('channel_not_found');
      expect(error.message).toContain('#no-such-channel');
    });
  });

  describe('when the bot is not in the channel', () => {
    it('fails with notify_failed, not retryable, naming not_in_channel', async () => {
      const { executor } = await harness({ channels: [{ id: 'C0LOCKED01', name: 'locked', isMember: false }] });
      const error = await rejectionOf(executor().run({ channel: 'C0LOCKED01', text: 'hello' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: false });
      expect(error.message).toContain('not_in_channel');
    });
  });

  describe('when Slack answers 429 with Retry-After', () => {
    it('waits Retry-After, posts again and succeeds with one message', async () => {
      const { standIn, waits, executor } = await harness();
      standIn.state.rateLimitNext(1, 2, 'chat.postMessage');
      const output = await executor().run({ channel: '#ml-incidents', text: 'after the limit' }, createTestContext().ctx);
      expect(output).toMatchObject({ channel: ML_INCIDENTS, adopted: false });
      expect(waits).toEqual([2_000]);
      expect(standIn.state.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.outcome)).toEqual(['ratelimited', 'ok']);
      expect(standIn.state.messagesIn(ML_INCIDENTS)).toHaveLength(1);
    });

    it('lets the client wait out a 429 on a read by itself', async () => {
      const { standIn, executor } = await harness();
      standIn.state.rateLimitNext(1, 1, 'conversations.history');
      const started = Date.now();
      await executor().run({ channel: ML_INCIDENTS, text: 'hello' }, createTestContext().ctx);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(standIn.state.calls.filter((c) => c.method === 'conversations.history').map((c) => c.outcome)).toEqual(['ratelimited', 'ok']);
    });

    it('fails retryable when Retry-After is longer than it will wait', async () => {
      const { standIn, executor } = await harness();
      standIn.state.rateLimitNext(1, 120, 'chat.postMessage');
      const error = await rejectionOf(executor({ maxRateLimitWaitMs: 30_000 }).run({ channel: ML_INCIDENTS, text: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: true });
      expect(error.message).toContain('Retry-After: 120s');
    });
  });

  describe('when Slack answers a transient platform error', () => {
    it('fails with notify_failed, retryable', async () => {
      const { standIn, executor } = await harness();
      standIn.state.failNext('chat.postMessage', 'internal_error');
      const error = await rejectionOf(executor().run({ channel: ML_INCIDENTS, text: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: true });
    });
  });

  describe('when the history cannot be read', () => {
    it('posts anyway and logs that it could not check', async () => {
      const { standIn, executor } = await harness();
      standIn.state.failNext('conversations.history', 'missing_scope');
      const { ctx, logs } = createTestContext();
      expect(await executor().run({ channel: ML_INCIDENTS, text: 'x' }, ctx)).toMatchObject({ adopted: false });
      expect(standIn.state.messagesIn(ML_INCIDENTS)).toHaveLength(1);
      expect(logs.some((l) => l.level === 'warn' && l.message.includes('could not read the channel history'))).toBe(true);
    });
  });

  describe('when the token is refused', () => {
    it('fails with notify_failed, not retryable, naming invalid_auth', async () => {
      const { executor } = await harness({}, 'xoxb-wrong');
      const error = await rejectionOf(executor().run({ channel: ML_INCIDENTS, text: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: false });
      expect(error.message).toContain('invalid_auth');
    });
  });

  describe('when no channel is given', () => {
    it('posts in the run\'s thread found by runThread', async () => {
      const { standIn, executor } = await harness();
      const run = executor({ runThread: async () => ({ channel: 'C0MLONC001', threadTs: '1700000000.000001' }) });
      expect(await run.run({ text: 'step done' }, createTestContext().ctx)).toMatchObject({ channel: 'C0MLONC001' });
      expect(standIn.state.messagesIn('C0MLONC001')[0]).toMatchObject({ text: 'step done', thread_ts: '1700000000.000001' });
    });

    it('fails, not retryable, without a run thread', async () => {
      const { executor } = await harness();
      const error = await rejectionOf(executor().run({ text: 'step done' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: false });
    });
  });

  describe('when Slack cannot be reached', () => {
    it('fails with notify_failed, retryable', async () => {
      const standIn = await startSlackStandIn({ port: 0 });
      const url = standIn.url;
      await standIn.close();
      const slack = createSlackMessenger({ token: TOKEN, apiUrl: url, retries: 0, logLevel: LogLevel.ERROR });
      const error = await rejectionOf(createNotifyExecutor({ slack }).run({ channel: 'C0MLINC001', text: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: true });
    });
  });

  describe('when the step is aborted', () => {
    it('rejects with an AbortError and posts nothing', async () => {
      const { standIn, executor } = await harness();
      const { ctx, controller } = createTestContext();
      controller.abort();
      const error = await rejectionOf(executor().run({ channel: ML_INCIDENTS, text: 'x' }, ctx));
      expect(error.name).toBe('AbortError');
      expect(standIn.state.messagesIn(ML_INCIDENTS)).toHaveLength(0);
    });
  });
});

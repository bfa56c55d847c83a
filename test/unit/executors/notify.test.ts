import { describe, expect, it } from 'vitest';
import { createNotifyExecutor, stepKeyOf } from '../../../src/executors/notify.ts';
import { SLACK_CALL_ERROR_CODES, SlackCallError, slackOptionsFromEnv, type SlackMessenger, type SlackOutgoingMessage } from '../../../src/integrations/slack.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

/** A messenger whose answers each test scripts (an injected dependency, not a module mock). */
function scriptedSlack(script: { post?: (message: SlackOutgoingMessage, n: number) => { channel: string; ts: string }; history?: () => never }) {
  const posts: SlackOutgoingMessage[] = [];
  const slack: SlackMessenger = {
    postMessage: async (message) => {
      posts.push(message);
      return script.post ? script.post(message, posts.length) : { channel: 'C0MLINC001', ts: `1700000000.00000${posts.length}` };
    },
    recentMessages: async () => (script.history ? script.history() : []),
    resolveChannelId: async (channel) => (channel.startsWith('#') ? 'C0MLINC001' : channel),
  };
  return { slack, posts };
}

const noWait = async () => undefined;
const rateLimited = () => new SlackCallError(SLACK_CALL_ERROR_CODES.rateLimited, 'Slack chat.postMessage is rate limited (Retry-After: 1s)', { method: 'chat.postMessage', retryable: true, retryAfterMs: 1_000 });
const lostReply = () => new SlackCallError(SLACK_CALL_ERROR_CODES.requestFailed, 'Slack chat.postMessage failed: socket hang up', { method: 'chat.postMessage', retryable: true, mayHaveApplied: true });

describe('notify executor', () => {
  describe('plan', () => {
    const { slack } = scriptedSlack({});
    const plan = (input: unknown) => createNotifyExecutor({ slack }).plan?.(input);

    it('shows the channel and the text', () => {
      expect(plan({ channel: '#ml-incidents', text: 'Rolling back model-x' })).toEqual(['post to #ml-incidents: "Rolling back model-x"']);
    });

    it('cuts a long text and names the run thread when no channel is given', () => {
      expect(plan({ text: 'x'.repeat(200) })).toEqual([`post to the run's Slack thread: "${'x'.repeat(80)}…"`]);
    });
  });

  describe('when the arguments are invalid', () => {
    it('fails with executor_input_invalid, not retryable, before calling Slack', async () => {
      const { slack, posts } = scriptedSlack({});
      const error = await rejectionOf(createNotifyExecutor({ slack }).run({ channel: '#x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'executor_input_invalid', retryable: false });
      expect(error.message).toContain('text');
      expect(posts).toHaveLength(0);
    });

    it('refuses a channel whose template was never resolved', async () => {
      const { slack } = scriptedSlack({});
      const error = await rejectionOf(createNotifyExecutor({ slack }).run({ channel: '{{ params.channel }}', text: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'executor_input_invalid', retryable: false });
    });
  });

  describe('when the reply is lost and the history cannot be read', () => {
    it('fails retryable without posting a second time', async () => {
      const { slack, posts } = scriptedSlack({
        post: () => { throw lostReply(); },
        history: () => { throw new SlackCallError(SLACK_CALL_ERROR_CODES.platform, 'Slack conversations.history answered missing_scope', { method: 'conversations.history', retryable: false, slackError: 'missing_scope' }); },
      });
      const error = await rejectionOf(createNotifyExecutor({ slack, sleep: noWait }).run({ channel: '#ml-incidents', text: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: true });
      expect(posts).toHaveLength(1);
    });
  });

  describe('when Slack keeps rate limiting', () => {
    it('waits maxRateLimitWaits times, then fails retryable', async () => {
      const waits: number[] = [];
      const { slack, posts } = scriptedSlack({ post: () => { throw rateLimited(); } });
      const sleep = async (ms: number) => { waits.push(ms); };
      const error = await rejectionOf(createNotifyExecutor({ slack, sleep, maxRateLimitWaits: 2 }).run({ channel: '#ml-incidents', text: 'x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: true });
      expect(waits).toEqual([1_000, 1_000]);
      expect(posts).toHaveLength(3);
    });
  });

  describe('when the messenger throws something unexpected', () => {
    it('reports notify_failed, retryable, with secrets redacted', async () => {
      const { slack } = scriptedSlack({ post: () => { throw new Error('boom hunter2'); } });
      const error = await rejectionOf(createNotifyExecutor({ slack, sleep: noWait }).run({ channel: 'C0MLINC001', text: 'x' }, createTestContext({ secrets: ['hunter2'] }).ctx));
      expect(error).toMatchObject({ code: 'notify_failed', retryable: true });
      expect(error.message).toContain('boom [redacted]');
    });
  });

  describe('stepKeyOf', () => {
    it('is the same for every attempt of a step execution', () => {
      const a = createTestContext({ idempotencyKey: 'run-1/step-a/do/1', attempt: 1 }).ctx;
      const b = createTestContext({ idempotencyKey: 'run-1/step-a/do/3', attempt: 3 }).ctx;
      expect(stepKeyOf(a)).toBe('run-1/step-a/do');
      expect(stepKeyOf(b)).toBe(stepKeyOf(a));
      expect(stepKeyOf({ ...a, phase: 'undo' })).toBe('run-1/step-a/undo');
    });
  });
});

describe('slackOptionsFromEnv', () => {
  it('is unset without SLACK_BOT_TOKEN', () => {
    expect(slackOptionsFromEnv({})).toEqual({ options: undefined, problems: [] });
  });

  it('takes the token and SLACK_API_URL', () => {
    expect(slackOptionsFromEnv({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_API_URL: 'http://127.0.0.1:9/api/' })).toEqual({ options: { token: 'xoxb-1', apiUrl: 'http://127.0.0.1:9/api/' }, problems: [] });
  });

  it('reports a bad SLACK_API_URL without echoing the token', () => {
    const { problems } = slackOptionsFromEnv({ SLACK_BOT_TOKEN: 'xoxb-secret', SLACK_API_URL: 'slack.com/api' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('SLACK_API_URL');
    expect(problems.join('')).not.toContain('xoxb-secret');
  });
});

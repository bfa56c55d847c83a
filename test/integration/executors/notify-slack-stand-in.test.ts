/**
 * The Slack stand-in's other Web API methods, driven by the real `@slack/web-api` client, so the
 * bot and later tests can rely on them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LogLevel, type WebClient } from '@slack/web-api';
import { createSlackClient } from '../../../src/integrations/slack.ts';
import { startSlackStandIn, type SlackStandIn, type SlackStandInOptions } from '../../../src/sandbox/slack.ts';

const open: SlackStandIn[] = [];
afterEach(async () => {
  for (const standIn of open.splice(0)) await standIn.close();
});

async function harness(options: SlackStandInOptions = {}): Promise<{ standIn: SlackStandIn; client: WebClient }> {
  const standIn = await startSlackStandIn({ port: 0, ...options });
  open.push(standIn);
  return { standIn, client: createSlackClient({ token: 'xoxb-test-token', apiUrl: standIn.url, retries: 0, logLevel: LogLevel.ERROR }) };
}

/** The Slack error string a call failed with. */
async function slackErrorOf(call: Promise<unknown>): Promise<string> {
  const error: unknown = await call.then(() => expect.fail('expected the call to fail'), (e: unknown) => e);
  const data = (error as { data?: { error?: string } }).data;
  return data?.error ?? String(error);
}

describe('Slack stand-in', () => {
  describe('when the client authenticates', () => {
    it('answers auth.test with the bot identity', async () => {
      const { client } = await harness();
      expect(await client.auth.test()).toMatchObject({ ok: true, user_id: 'U0BOT00001', bot_id: 'B0BOT00001', team_id: 'T0TEAM0001' });
    });

    it('answers invalid_auth to an unknown token', async () => {
      const { standIn } = await harness();
      const stranger = createSlackClient({ token: 'xoxb-nope', apiUrl: standIn.url, retries: 0, logLevel: LogLevel.ERROR });
      expect(await slackErrorOf(stranger.auth.test())).toBe('invalid_auth');
    });
  });

  describe('when messages are posted and edited', () => {
    it('assigns increasing ts, decodes blocks and lists history newest first', async () => {
      const { standIn, client } = await harness();
      const first = await client.chat.postMessage({ channel: '#ml-oncall', text: 'one', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*one*' } }] });
      const second = await client.chat.postMessage({ channel: 'C0MLONC001', text: 'two' });
      expect([first.ts, second.ts]).toEqual(['1700000000.000100', '1700000000.000200']);
      expect(standIn.state.callsTo('chat.postMessage')[0]?.['blocks']).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: '*one*' } }]);
      await client.chat.update({ channel: 'C0MLONC001', ts: first.ts ?? '', text: 'one (edited)' });
      const history = await client.conversations.history({ channel: 'C0MLONC001' });
      expect(history.messages?.map((m) => m.text)).toEqual(['two', 'one (edited)']);
    });

    it('answers message_not_found to an update of an unknown ts', async () => {
      const { client } = await harness();
      expect(await slackErrorOf(client.chat.update({ channel: 'C0MLONC001', ts: '1.000000', text: 'x' }))).toBe('message_not_found');
    });

    it('creates an unknown channel on a post unless strict', async () => {
      const lenient = await harness();
      expect(await lenient.client.chat.postMessage({ channel: '#brand-new', text: 'x' })).toMatchObject({ ok: true });
      const strict = await harness({ strictChannels: true });
      expect(await slackErrorOf(strict.client.chat.postMessage({ channel: '#brand-new', text: 'x' }))).toBe('channel_not_found');
    });

    it('records ephemeral messages', async () => {
      const { standIn, client } = await harness();
      expect(await client.chat.postEphemeral({ channel: 'C0MLONC001', user: 'U0REQUEST1', text: 'only you' })).toMatchObject({ ok: true });
      expect(standIn.state.ephemeral).toMatchObject([{ channel: 'C0MLONC001', user: 'U0REQUEST1', text: 'only you' }]);
    });
  });

  describe('when channels are created and people invited', () => {
    it('creates, refuses a taken name, and invites known users', async () => {
      const { client } = await harness();
      const created = await client.conversations.create({ name: 'inc-42' });
      expect(created.channel?.name).toBe('inc-42');
      expect(await slackErrorOf(client.conversations.create({ name: 'inc-42' }))).toBe('name_taken');
      expect(await slackErrorOf(client.conversations.create({ name: 'Bad Name' }))).toBe('invalid_name_specials');
      const id = created.channel?.id ?? '';
      expect(await client.conversations.invite({ channel: id, users: 'U0APPROVE1,U0APPROVE2' })).toMatchObject({ ok: true });
      expect(await slackErrorOf(client.conversations.invite({ channel: id, users: 'U0APPROVE1' }))).toBe('already_in_channel');
      expect(await slackErrorOf(client.conversations.invite({ channel: id, users: 'U0NOBODY1' }))).toBe('user_not_found');
    });
  });

  describe('when users, groups and views are asked for', () => {
    it('answers users.info, usergroups.users.list and views.open', async () => {
      const { standIn, client } = await harness({ userGroups: [{ id: 'S0LEADS001', handle: 'leads', users: ['U024BE7LH'] }] });
      expect((await client.users.info({ user: 'U0APPROVE1' })).user).toMatchObject({ id: 'U0APPROVE1', name: 'bob' });
      expect(await slackErrorOf(client.users.info({ user: 'U0NOBODY1' }))).toBe('user_not_found');
      expect((await client.usergroups.users.list({ usergroup: 'S0LEADS001' })).users).toEqual(['U024BE7LH']);
      const view = { type: 'modal' as const, title: { type: 'plain_text' as const, text: 'Approve' }, blocks: [] };
      expect((await client.views.open({ trigger_id: '123.456', view })).view).toMatchObject({ type: 'modal' });
      expect(standIn.state.views).toHaveLength(1);
      expect(await slackErrorOf(client.views.open({ trigger_id: 'expired-1', view }))).toBe('expired_trigger_id');
    });
  });

  describe('when faults are scripted', () => {
    it('fails the next call of a method with the given error, once', async () => {
      const { standIn, client } = await harness();
      standIn.state.failNext('auth.test', 'fatal_error');
      expect(await slackErrorOf(client.auth.test())).toBe('fatal_error');
      expect(await client.auth.test()).toMatchObject({ ok: true });
      expect(standIn.state.calls.map((c) => c.outcome)).toEqual(['fatal_error', 'ok']);
    });
  });
});

/**
 * The Bolt app in this process, on loopback: signed requests in (the request sender), Web API
 * calls out (the Slack stand-in), and a fake engine whose slowness the test controls.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBotApp, type BotApp } from '../../../src/bot/app.ts';
import { createRunbookCatalog } from '../../../src/bot/catalog.ts';
import type { BotEngine, DeliveryDedupe } from '../../../src/bot/ports.ts';
import type { StartRunRequest } from '../../../src/engine/engine.ts';
import { createExecutorCatalog } from '../../../src/executors/specs.ts';
import { loadRunbook } from '../../../src/machines/load.ts';
import { startSlackStandIn, type SlackStandIn } from '../../../src/sandbox/slack.ts';
import { createSlackRequestSender, selectInput, textInput, type SlackRequestSender } from '../../../src/sandbox/slack-requests.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const SECRET = 'unit-signing-secret';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const CHANGE = `---
id: change-thing
title: Change a thing
params:
  target: { type: string, pattern: "^[a-z0-9-]+$", description: What to change. }
  note: { type: string, required: false }
triggers: { slack: "change <target> [note]" }
---
## Confirm {#confirm}
Look at it.
`;

interface Harness {
  readonly slack: SlackStandIn;
  readonly sender: SlackRequestSender;
  readonly bot: BotApp;
  readonly started: StartRunRequest[];
  delays: { engineMs: number; dedupeMs: number };
  readyRedis: boolean;
}

let h: Harness;

beforeEach(async () => {
  const slack = await startSlackStandIn();
  const started: StartRunRequest[] = [];
  const partial: Pick<Harness, 'delays' | 'readyRedis'> = { delays: { engineMs: 0, dedupeMs: 0 }, readyRedis: true };
  const engine: BotEngine = {
    startRun: async (request) => {
      await sleep(partial.delays.engineMs);
      started.push(request);
      return { id: `RUN${started.length}`, runbookId: 'change-thing', params: request.params, status: 'active' };
    },
    send: async () => { throw new Error('not used here'); },
    getRun: async () => undefined,
    runbookOf: () => { throw new Error('not used here'); },
    store: { list: async () => [] },
  };
  const seen = new Set<string>();
  const dedupe: DeliveryDedupe = {
    isFirstDelivery: async (kind, id) => {
      await sleep(partial.delays.dedupeMs);
      const first = !seen.has(`${kind}/${id}`);
      seen.add(`${kind}/${id}`);
      return first;
    },
  };
  const catalog = await createRunbookCatalog({ load: async () => [loadRunbook('runbooks/change.md', CHANGE, createExecutorCatalog([]))], logger: quiet });
  const bot = await createBotApp({
    token: 'xoxb-test-token', signingSecret: SECRET, apiUrl: slack.url, port: 0, host: '127.0.0.1', slackRetries: 0,
    engine, catalog, dedupe, logger: quiet,
    readiness: { redis: async () => ({ ok: partial.readyRedis, ...(partial.readyRedis ? {} : { detail: 'connection refused' }) }) },
  });
  const sender = await createSlackRequestSender({ url: `http://127.0.0.1:${bot.port}/slack/events`, signingSecret: SECRET });
  h = Object.assign(partial, { slack, sender, bot, started });
});

afterEach(async () => {
  await h.bot.stop();
  await h.sender.close();
  await h.slack.close();
});

async function until<T>(read: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const replyText = (body: unknown) => (typeof body === 'object' && body !== null && 'text' in body ? String(body.text) : JSON.stringify(body));

describe('the Slack app', () => {
  describe('when the engine and Redis are slow', () => {
    it('acks the slash command at once and replies through response_url later', async () => {
      // Together well past Slack's 3 s.
      h.delays = { engineMs: 2_000, dedupeMs: 2_000 };
      const delivery = await h.sender.slashCommand({ text: 'change alpha', userId: 'U0REQUEST1', userName: 'alice', channelId: 'C0MLINC001' });
      expect(delivery.status).toBe(200);
      expect(delivery.elapsedMs).toBeLessThan(1_000);
      const [reply] = await h.sender.waitForResponses(delivery.responseUrl ?? '', 1, 15_000);
      expect(replyText(reply?.body)).toContain('Started run `RUN1`');
      expect(reply?.body).toMatchObject({ response_type: 'ephemeral' });
    });
  });

  describe('when /runbook comes alone', () => {
    it('opens the picker, then the params form, shows bad values inline, and starts the run with good ones', async () => {
      const command = await h.sender.slashCommand({ text: '', userId: 'U0REQUEST1', userName: 'alice', channelId: 'C0MLINC001' });
      expect(command.status).toBe(200);
      const picker = await until(() => h.slack.state.views[0], 'views.open');
      expect(picker).toMatchObject({ callback_id: 'runbook.pick' });

      const picked = await h.sender.viewSubmission({ userId: 'U0REQUEST1', userName: 'alice', view: picker, values: { runbook: { value: selectInput('change-thing') } } });
      const update = JSON.parse(picked.body) as { response_action: string; view: Record<string, unknown> };
      expect(update.response_action).toBe('update');
      expect(update.view).toMatchObject({ callback_id: 'runbook.start' });

      const bad = await h.sender.viewSubmission({ userId: 'U0REQUEST1', userName: 'alice', view: update.view, values: { 'param.target': { value: textInput('BAD!') }, 'param.note': { value: textInput(null) } } });
      expect(JSON.parse(bad.body)).toEqual({ response_action: 'errors', errors: { 'param.target': 'param `target` must match ^[a-z0-9-]+$; got "BAD!"' } });
      expect(h.started).toHaveLength(0);

      const good = await h.sender.viewSubmission({ userId: 'U0REQUEST1', userName: 'alice', view: update.view, values: { 'param.target': { value: textInput('alpha') }, 'param.note': { value: textInput('two words') } } });
      expect(good.status).toBe(200);
      expect(good.body).toBe('');
      await until(() => h.started[0], 'startRun');
      expect(h.started[0]).toMatchObject({
        file: 'runbooks/change.md',
        params: { target: 'alpha', note: 'two words' },
        requester: { id: 'U0REQUEST1', name: 'alice' },
        origin: { kind: 'slack', channel: 'C0MLINC001', responseUrl: command.responseUrl },
      });
      const [reply] = await h.sender.waitForResponses(command.responseUrl ?? '');
      expect(replyText(reply?.body)).toContain('Started run `RUN1`');
    });
  });

  describe('when required params are missing from the command', () => {
    it('opens the params form prefilled with what was typed, and starts nothing', async () => {
      await h.sender.slashCommand({ text: 'change note="keep me"', userId: 'U0REQUEST1', channelId: 'C0MLINC001' });
      const form = await until(() => h.slack.state.views[0], 'views.open');
      expect(form).toMatchObject({ callback_id: 'runbook.start' });
      expect(JSON.stringify(form['blocks'])).toContain('"initial_value":"keep me"');
      expect(h.started).toHaveLength(0);
    });
  });

  describe('when Reject is clicked', () => {
    it('opens the reason form at once, carrying the run and step', async () => {
      const click = await h.sender.blockAction({ actionId: 'runbook.reject', value: JSON.stringify({ runId: 'R1', stepId: 'approve' }), userId: 'U0APPROVE1', channelId: 'C0MLINC001' });
      expect(click.status).toBe(200);
      const form = await until(() => h.slack.state.views[0], 'views.open');
      expect(form).toMatchObject({ callback_id: 'runbook.reject_reason' });
      expect(JSON.parse(String(form['private_metadata']))).toMatchObject({ runId: 'R1', stepId: 'approve', channel: 'C0MLINC001' });
    });
  });

  describe('when a button carries a value the bot does not understand', () => {
    it('explains it to the clicker only', async () => {
      await h.sender.blockAction({ actionId: 'runbook.approve', value: 'not json', userId: 'U0APPROVE1', channelId: 'C0MLINC001' });
      const note = await until(() => h.slack.state.ephemeral[0], 'chat.postEphemeral');
      expect(note).toMatchObject({ user: 'U0APPROVE1', channel: 'C0MLINC001' });
      expect(note.text).toContain('not one the bot understands');
    });
  });

  describe('when asked for health and readiness', () => {
    it('answers /healthz 200 and /readyz 200 or 503 with every check', async () => {
      const base = `http://127.0.0.1:${h.bot.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      h.readyRedis = false;
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: 'not ready', checks: { redis: { ok: false, detail: 'connection refused' } } });
    });
  });
});

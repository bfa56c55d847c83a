/**
 * The run message end to end, as Slack sees it: real `runbook web` and `runbook worker` processes
 * (the worker has SLACK_BOT_TOKEN, so its notify worker keeps the run message current) on the test
 * Redis under a fresh prefix, the Slack Web API stand-in, and signed slash commands and clicks.
 * Every assertion is on what the stand-in received: posts, updates and thread replies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord, RunStore } from '../../src/engine/run-store.ts';
import type { SlackStandIn } from '../../src/sandbox/slack.ts';
import { textInput, type SlackRequestSender } from '../../src/sandbox/slack-requests.ts';
import type { WebProcess } from '../helpers/processes.ts';
import { startSlackE2e, type SlackE2e } from '../helpers/slack-e2e.ts';
import { outputTail, sleep, waiter } from '../helpers/wait.ts';

const SECRET = 'e2e-run-message-secret';
const CHANNEL = 'C0MLINC001';
// The stand-in's workspace: bob and carol are in @ml-oncall-leads (S0MLLEADS1).
const ALICE = { userId: 'U0REQUEST1', userName: 'alice' };
const BOB = { userId: 'U0APPROVE1', userName: 'bob' };
const CAROL = { userId: 'U0APPROVE2', userName: 'carol' };

// A call step (its output goes in the thread), a gate on a user group, then a manual step.
const RELEASE = `---
id: slack-release
title: Slack release
params:
  target: { type: string, pattern: "^[a-z0-9-]+$" }
triggers: { slack: "release <target>" }
---
# Slack release

## Prepare {#prepare}
\`\`\`record
label: "prepared {{ params.target }}"
timeout: 10s
\`\`\`

## Approve {#approve}
\`\`\`approve
message: "Ship {{ params.target }}?"
from: ["@ml-oncall-leads"]
expires: 10m
\`\`\`

## Verify {#verify}
Check that the release dashboards are green.
`;

interface Block {
  readonly type: string;
  readonly text?: { readonly text?: string };
  readonly elements?: readonly { readonly action_id?: string; readonly text?: string | { readonly text?: string } }[];
}

let e2e: SlackE2e | undefined;
let slack: SlackStandIn;
let sender: SlackRequestSender;
let web: WebProcess;
let store: RunStore;

beforeAll(async () => {
  e2e = await startSlackE2e({ name: 'run-message', runbooks: { 'slack-release.md': RELEASE }, signingSecret: SECRET });
  ({ slack, sender, web, store } = e2e);
}, 60_000);

afterAll(() => e2e?.close(), 60_000);

const until = waiter({ describe: outputTail('web', () => web.output()) });

/** Starts a run with `/runbook <text>` from alice in CHANNEL and returns its id, from the reply. */
async function startRun(text: string): Promise<string> {
  const delivery = await sender.slashCommand({ text, ...ALICE, channelId: CHANNEL });
  expect(delivery.status).toBe(200);
  const [reply] = await sender.waitForResponses(delivery.responseUrl ?? '', 1, 15_000);
  const body = reply?.body;
  const replyText = typeof body === 'object' && body !== null && 'text' in body ? String(body.text) : JSON.stringify(body);
  const id = /Started run `([0-9A-Z]{26})`/.exec(replyText)?.[1];
  if (!id) throw new Error(`no run started by \`${text}\`: ${replyText}`);
  return id;
}

const runWhere = (id: string, predicate: (run: RunRecord) => boolean) =>
  until(async () => {
    const run = await store.get(id);
    return run && predicate(run) ? run : undefined;
  }, `run ${id}`);

const blocksOf = (args: Record<string, unknown>): Block[] => (Array.isArray(args['blocks']) ? (args['blocks'] as Block[]) : []);
const headerOf = (blocks: readonly Block[]) => blocks.find((b) => b.type === 'header')?.text?.text ?? '';
const mrkdwnOf = (blocks: readonly Block[]) => blocks.map((b) => b.text?.text ?? '').join('\n');
const buttonsOf = (blocks: readonly Block[]) => blocks.filter((b) => b.type === 'actions').flatMap((b) => (b.elements ?? []).map((e) => e.action_id ?? ''));

/** The top-level posts of the run's message (its fallback text names the run). */
const runPosts = (runId: string) => slack.state.callsTo('chat.postMessage').filter((a) => a['thread_ts'] === undefined && String(a['text']).includes(runId));
/** Every chat.update that names the run, in order. */
const runUpdates = (runId: string) => slack.state.callsTo('chat.update').filter((a) => String(a['text']).includes(runId));

/** The run message as Slack shows it now (the stand-in applies each update in place). */
function shownMessage(runId: string) {
  const message = slack.state.messagesIn(CHANNEL).find((m) => m.thread_ts === undefined && m.text.includes(runId));
  return message ? { ts: message.ts, text: message.text, blocks: Array.isArray(message.blocks) ? (message.blocks as Block[]) : [] } : undefined;
}

const showing = (runId: string, what: string, predicate: (blocks: readonly Block[], text: string) => boolean) =>
  until(() => {
    const message = shownMessage(runId);
    return message && predicate(message.blocks, message.text) ? message : undefined;
  }, `the run message to show ${what}`);

async function click(action: 'approve' | 'reject' | 'done', runId: string, stepId: string, who: { userId: string; userName: string }, messageTs: string) {
  const delivery = await sender.blockAction({ actionId: `runbook.${action}`, value: JSON.stringify({ runId, stepId }), ...who, channelId: CHANNEL, messageTs, blockId: 'runbook.actions' });
  expect(delivery.status).toBe(200);
}

describe('the run message', () => {
  describe('when a run is started from Slack, approved by a group member and its manual step marked done', () => {
    it('is posted once in the requesting channel and kept current by updates of that message, with outputs in its thread', async () => {
      const id = await startRun('release alpha');
      const waiting = await showing(id, 'the approval buttons', (blocks) => buttonsOf(blocks).includes('runbook.approve'));
      const { ts } = waiting;
      expect(headerOf(waiting.blocks)).toBe('📘 Slack release');
      expect(mrkdwnOf(waiting.blocks)).toContain('Ship alpha?');
      expect(mrkdwnOf(waiting.blocks)).toContain('@ml-oncall-leads');
      expect(buttonsOf(waiting.blocks)).toEqual(['runbook.approve', 'runbook.reject', 'runbook.cancel']);

      // The record step's output, in the thread of the run message.
      const output = await until(() => slack.state.callsTo('chat.postMessage').find((a) => a['thread_ts'] === ts), 'the step output in the thread');
      expect(output['channel']).toBe(CHANNEL);
      expect(mrkdwnOf(blocksOf(output))).toContain('prepared alpha');

      await click('approve', id, 'approve', BOB, ts);
      const approved = await showing(id, 'the approval and the Done button', (blocks) => buttonsOf(blocks).includes('runbook.done'));
      expect(mrkdwnOf(approved.blocks)).toContain(`approved by <@${BOB.userId}>`);
      expect(buttonsOf(approved.blocks)).toEqual(['runbook.done', 'runbook.skip', 'runbook.cancel']);
      expect(mrkdwnOf(approved.blocks)).toContain('Check that the release dashboards are green.');

      await click('done', id, 'verify', CAROL, ts);
      await showing(id, 'success', (blocks) => headerOf(blocks).startsWith('✅'));
      expect((await runWhere(id, (r) => r.status !== 'active')).status).toBe('succeeded');
      await sleep(1_500); // past the notifier's 1 s spacing: any render still due has gone out

      const posts = runPosts(id);
      expect(posts).toHaveLength(1);
      expect(posts[0]?.['channel']).toBe(CHANNEL);
      const updates = runUpdates(id);
      expect(updates.length).toBeGreaterThanOrEqual(2);
      for (const update of updates) expect(update).toMatchObject({ channel: CHANNEL, ts });
      const calls = slack.state.calls;
      const postAt = calls.findIndex((c) => c.method === 'chat.postMessage' && c.args['thread_ts'] === undefined && String(c.args['text']).includes(id));
      expect(calls.findIndex((c) => c.method === 'chat.update' && String(c.args['text']).includes(id))).toBeGreaterThan(postAt);
      expect(calls.filter((c) => c.method === 'chat.update' && c.args['ts'] === ts).every((c) => c.outcome === 'ok')).toBe(true);

      const final = blocksOf(updates.at(-1) ?? {});
      expect(headerOf(final)).toBe('✅ Slack release');
      expect(final.filter((b) => b.type === 'actions')).toEqual([]);
      expect(mrkdwnOf(final)).toContain('Succeeded');
      expect(mrkdwnOf(final)).toContain(`done by <@${CAROL.userId}>`);
      expect(String(updates.at(-1)?.['text'])).toContain('✅');

      const thread = slack.state.callsTo('chat.postMessage').filter((a) => a['thread_ts'] === ts);
      expect(thread).toHaveLength(1);
      expect(thread.every((a) => a['channel'] === CHANNEL)).toBe(true);
    });
  });

  describe('when an approver clicks Reject and submits a reason', () => {
    it('ends the message as rejected, with no buttons left', async () => {
      const id = await startRun('release beta');
      const { ts } = await showing(id, 'the approval buttons', (blocks) => buttonsOf(blocks).includes('runbook.reject'));
      const opened = slack.state.views.length;
      await click('reject', id, 'approve', CAROL, ts);
      const form = await until(() => slack.state.views[opened], 'the reject form');
      const submitted = await sender.viewSubmission({ ...CAROL, view: form, values: { reason: { value: textInput('not during the freeze') } } });
      expect(submitted.status).toBe(200);

      await showing(id, 'the rejection', (blocks) => headerOf(blocks).startsWith('🚫'));
      expect((await runWhere(id, (r) => r.status !== 'active')).status).toBe('rejected');
      await sleep(1_500);
      expect(runPosts(id)).toHaveLength(1);
      const updates = runUpdates(id);
      for (const update of updates) expect(update).toMatchObject({ channel: CHANNEL, ts });
      const final = blocksOf(updates.at(-1) ?? {});
      expect(headerOf(final)).toBe('🚫 Slack release');
      expect(final.filter((b) => b.type === 'actions')).toEqual([]);
      expect(mrkdwnOf(final)).toContain(`Rejected* by <@${CAROL.userId}>`);
      expect(mrkdwnOf(final)).toContain('not during the freeze');
    });
  });
});

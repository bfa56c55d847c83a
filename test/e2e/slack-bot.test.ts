/**
 * The Slack bot end to end, as Slack drives it: real `runbook web` and `runbook worker` processes
 * on the test Redis (fresh prefix), the Slack Web API stand-in, and signed slash commands and
 * clicks from the request sender. The run message is another module's: nothing here asserts on it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord, RunStore } from '../../src/engine/run-store.ts';
import { createTestExecutors, type TestExecutorState } from '../../src/executors/testing.ts';
import type { SlackStandIn } from '../../src/sandbox/slack.ts';
import { textInput, type SlackDelivery, type SlackRequestSender } from '../../src/sandbox/slack-requests.ts';
import type { WebProcess } from '../helpers/processes.ts';
import { APPROVE_THEN_APPLY_STEPS } from '../helpers/runbooks.ts';
import { startSlackE2e, type SlackE2e } from '../helpers/slack-e2e.ts';
import { outputTail, waiter } from '../helpers/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/runbook.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'e2e-signing-secret';
const CHANNEL = 'C0MLINC001';
// The stand-in's workspace: bob and carol are in @ml-oncall-leads (S0MLLEADS1), dave is not.
const ALICE = { userId: 'U0REQUEST1', userName: 'alice' };
const BOB = { userId: 'U0APPROVE1', userName: 'bob' };
const CAROL = { userId: 'U0APPROVE2', userName: 'carol' };
const DAVE = { userId: 'U024BE7LH', userName: 'dave' };

const gated = (id: string, usage: string, quorum: number) => `---
id: ${id}
title: Slack gated change (${id})
params:
  target: { type: string, pattern: "^[a-z0-9-]+$", description: What to change. }
  note: { type: string, required: false }
approval: { quorum: ${quorum}, from: ["@ml-oncall-leads"], expires: 10m }
triggers: { slack: "${usage}" }
concurrency: "${id}:{{ params.target }}"
---
# Slack gated change

${APPROVE_THEN_APPLY_STEPS}`;

const MANUAL = `---
id: slack-manual
title: Slack checklist
params:
  target: { type: string }
triggers: { slack: "checklist <target>" }
---
# Slack checklist

## Look at the dashboards {#look}
Check that {{ params.target }} is green.

## Record {#record}
\`\`\`record
label: "checked {{ params.target }}"
timeout: 10s
\`\`\`
`;

let e2e: SlackE2e | undefined;
let dir: string;
let slack: SlackStandIn;
let sender: SlackRequestSender;
let web: WebProcess;
let store: RunStore;
let effects: TestExecutorState;

beforeAll(async () => {
  e2e = await startSlackE2e({
    name: 'slack',
    runbooks: { 'slack-change.md': gated('slack-change', 'change <target> [note]', 1), 'slack-quorum.md': gated('slack-quorum', 'quorum <target>', 2), 'slack-manual.md': MANUAL },
    signingSecret: SECRET,
    workerUsesSlack: false,
  });
  ({ dir, slack, sender, web, store } = e2e);
  effects = createTestExecutors(e2e.redis, e2e.prefix).state;
}, 60_000);

afterAll(() => e2e?.close(), 60_000);

const until = waiter({ describe: outputTail('web', () => web.output()) });

const textOf = (body: unknown) => (typeof body === 'object' && body !== null && 'text' in body ? String(body.text) : JSON.stringify(body));

/** The (first) reply posted to the delivery's response_url. */
async function replyTo(delivery: SlackDelivery): Promise<string> {
  const [reply] = await sender.waitForResponses(delivery.responseUrl ?? '', 1, 15_000);
  return textOf(reply?.body);
}

async function command(text: string, who = ALICE): Promise<SlackDelivery> {
  const delivery = await sender.slashCommand({ text, ...who, channelId: CHANNEL });
  expect(delivery.status).toBe(200);
  return delivery;
}

/** Starts a run with `/runbook <text>` and returns its id, from the reply. */
async function startRun(text: string, who = ALICE): Promise<string> {
  const reply = await replyTo(await command(text, who));
  const id = /Started run `([0-9A-Z]{26})`/.exec(reply)?.[1];
  if (!id) throw new Error(`no run started by \`${text}\`: ${reply}`);
  return id;
}

const runWhere = (id: string, predicate: (run: RunRecord) => boolean) =>
  until(async () => {
    const run = await store.get(id);
    return run && predicate(run) ? run : undefined;
  }, `run ${id}`);

const stepStatus = (run: RunRecord, step: string) => run.snapshot.context.steps[step]?.status;

/** Clicks a run-message button and returns the ephemeral reply the clicker got. */
async function click(action: 'approve' | 'reject' | 'done' | 'skip' | 'cancel', runId: string, stepId: string | undefined, who: { userId: string; userName: string }): Promise<string> {
  const before = slack.state.ephemeral.filter((e) => e.user === who.userId).length;
  const delivery = await sender.blockAction({ actionId: `runbook.${action}`, value: JSON.stringify(stepId ? { runId, stepId } : { runId }), ...who, channelId: CHANNEL });
  expect(delivery.status).toBe(200);
  if (action === 'reject') return '';
  const mine = await until(() => {
    const got = slack.state.ephemeral.filter((e) => e.user === who.userId);
    return got.length > before ? got : undefined;
  }, `an ephemeral reply to ${who.userName}`);
  return mine[mine.length - 1]?.text ?? '';
}

const runsFor = async (target: string) => (await store.list(1_000)).filter((r) => r.params['target'] === target);

describe('runbook web', () => {
  describe('when a runbook is started and approved by someone in the gate\'s group', () => {
    it('starts the run as the requester, applies the approval and runs the steps to success', async () => {
      const id = await startRun('change alpha "first try"');
      const waiting = await runWhere(id, (r) => stepStatus(r, 'approve') === 'awaiting_approval');
      expect(waiting.requester).toEqual({ id: ALICE.userId, name: 'alice' });
      expect(waiting.origin).toMatchObject({ kind: 'slack', channel: CHANNEL });
      expect(waiting.params).toEqual({ target: 'alpha', note: 'first try' });

      expect(await click('approve', id, 'approve', BOB)).toContain('You approved');
      const done = await runWhere(id, (r) => r.status !== 'active');
      expect(done.status).toBe('succeeded');
      expect(done.snapshot.context.steps['approve']?.approvals?.[0]?.by).toMatchObject({ id: BOB.userId, groups: ['@ml-oncall-leads'] });
      expect((await effects.effects()).map((e) => e.label)).toContain('apply alpha');
      expect(slack.state.callsTo('usergroups.users.list')).toContainEqual(expect.objectContaining({ usergroup: 'S0MLLEADS1' }));
    });
  });

  describe('when the requester or someone outside the group clicks Approve', () => {
    it('tells them why, privately, and the run keeps waiting; Cancel then cancels it', async () => {
      const id = await startRun('change beta');
      await runWhere(id, (r) => stepStatus(r, 'approve') === 'awaiting_approval');
      expect(await click('approve', id, 'approve', ALICE)).toContain('does not allow self-approval');
      expect(await click('approve', id, 'approve', DAVE)).toContain('You are not among the approvers');
      const still = await store.get(id);
      expect(still && stepStatus(still, 'approve')).toBe('awaiting_approval');
      expect(still?.snapshot.context.steps['approve']?.approvals ?? []).toEqual([]);

      expect(await click('cancel', id, undefined, ALICE)).toContain('Cancelled run');
      expect((await runWhere(id, (r) => r.status !== 'active')).status).toBe('cancelled');
    });
  });

  describe('when a gate needs two approvers and one clicks twice', () => {
    it('counts the first click only, and the second approver completes the gate', async () => {
      const id = await startRun('quorum gamma');
      await runWhere(id, (r) => stepStatus(r, 'approve') === 'awaiting_approval');
      expect(await click('approve', id, 'approve', BOB)).toContain('(1/2); 1 more approval needed');
      expect(await click('approve', id, 'approve', BOB)).toContain('You have already approved');
      expect(await click('approve', id, 'approve', CAROL)).toContain('(2/2)');
      expect((await runWhere(id, (r) => r.status !== 'active')).status).toBe('succeeded');
      expect(await click('approve', id, 'approve', CAROL)).toContain('has already finished');
    });
  });

  describe('when an approver clicks Reject and gives a reason', () => {
    it('opens the reason form and rejects the run with that reason', async () => {
      const id = await startRun('change delta');
      await runWhere(id, (r) => stepStatus(r, 'approve') === 'awaiting_approval');
      const opened = slack.state.views.length;
      await click('reject', id, 'approve', CAROL);
      const form = await until(() => slack.state.views[opened], 'the reject form');
      expect(form).toMatchObject({ callback_id: 'runbook.reject_reason' });
      const submitted = await sender.viewSubmission({ ...CAROL, view: form, values: { reason: { value: textInput('not during the freeze') } } });
      expect(submitted.status).toBe(200);
      const rejected = await runWhere(id, (r) => r.status !== 'active');
      expect(rejected.status).toBe('rejected');
      expect(rejected.snapshot.context.rejected).toMatchObject({ by: { id: CAROL.userId }, reason: 'not during the freeze', stepId: 'approve' });
      expect((await effects.effects()).map((e) => e.label)).not.toContain('apply delta');
    });
  });

  describe('when a manual step is marked done from its button', () => {
    it('continues the run', async () => {
      const id = await startRun('checklist epsilon');
      await runWhere(id, (r) => stepStatus(r, 'look') === 'awaiting_manual');
      expect(await click('done', id, 'look', BOB)).toContain('done');
      expect((await runWhere(id, (r) => r.status !== 'active')).status).toBe('succeeded');
    });
  });

  describe('when /runbook cancel names a run', () => {
    it('cancels it and says so', async () => {
      const id = await startRun('change zeta');
      await runWhere(id, (r) => stepStatus(r, 'approve') === 'awaiting_approval');
      expect(await replyTo(await command(`cancel ${id.toLowerCase()} wrong target`))).toContain(`Cancelled run \`${id}\``);
      const cancelled = await runWhere(id, (r) => r.status !== 'active');
      expect(cancelled.snapshot.context.cancelled).toMatchObject({ by: { id: ALICE.userId }, reason: 'wrong target' });
    });
  });

  describe('when /runbook status is typed without a run', () => {
    it('lists the caller\'s recent runs', async () => {
      const id = await startRun('change eta', DAVE);
      const reply = await replyTo(await command('status', DAVE));
      expect(reply).toContain(`\`${id}\``);
      expect(reply).not.toContain('alpha');
    });
  });

  describe('when the runbook is unknown', () => {
    it('replies with the closest names and starts nothing', async () => {
      const reply = await replyTo(await command('chnage theta'));
      expect(reply).toContain('There is no runbook `chnage`');
      expect(reply).toContain('Did you mean `change`');
      expect(await runsFor('theta')).toEqual([]);
    });
  });

  describe('when a param is bad', () => {
    it('says what was wrong and shows the usage, and starts nothing', async () => {
      const reply = await replyTo(await command('change Iota!'));
      expect(reply).toContain('Nothing was started');
      expect(reply).toContain('param `target` must match ^[a-z0-9-]+$; got "Iota!"');
      expect(reply).toContain('Usage: `/runbook change &lt;target&gt; [note] [name=value…]`');
      expect(await runsFor('Iota!')).toEqual([]);
    });
  });

  describe('when a request is not from Slack', () => {
    it('answers 401 to a forged signature, a stale timestamp and a missing signature, and starts nothing', async () => {
      const forged = await sender.slashCommand({ text: 'change kappa', ...ALICE, channelId: CHANNEL, signingSecret: 'not-the-secret' });
      const stale = await sender.slashCommand({ text: 'change kappa', ...ALICE, channelId: CHANNEL, timestampSeconds: Math.floor(Date.now() / 1000) - 6 * 60 });
      const unsigned = await sender.slashCommand({ text: 'change kappa', ...ALICE, channelId: CHANNEL, unsigned: true });
      const tampered = await sender.sendRaw({ body: forged.request.body.replace('kappa', 'lambda'), headers: sender.sign(forged.request.body) });
      for (const delivery of [forged, stale, unsigned, tampered]) expect(delivery.status).toBe(401);
      const forgedClick = await sender.blockAction({ actionId: 'runbook.approve', value: JSON.stringify({ runId: 'X', stepId: 'approve' }), ...BOB, channelId: CHANNEL, signingSecret: 'nope' });
      expect(forgedClick.status).toBe(401);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await runsFor('kappa')).toEqual([]);
      expect(await runsFor('lambda')).toEqual([]);
      expect(sender.responses.filter((r) => r.url === forged.responseUrl || r.url === stale.responseUrl || r.url === unsigned.responseUrl)).toEqual([]);
    });
  });

  describe('when Slack retries a command, or the same request is replayed', () => {
    it('starts one run', async () => {
      const first = await command('change mu');
      const retried = await sender.retry(first, 1, 'http_timeout');
      const replayed = await sender.sendRaw(first.request);
      expect([retried.status, replayed.status]).toEqual([200, 200]);
      const id = /Started run `([0-9A-Z]{26})`/.exec(await replyTo(first))?.[1];
      expect(id).toBeDefined();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await runsFor('mu')).map((r) => r.id)).toEqual([id]);
      expect(sender.responsesTo(first.responseUrl ?? '')).toHaveLength(1);
    });

    it('applies a retried click once', async () => {
      const id = await startRun('quorum nu');
      await runWhere(id, (r) => stepStatus(r, 'approve') === 'awaiting_approval');
      const before = slack.state.ephemeral.filter((e) => e.user === BOB.userId).length;
      const clicked = await sender.blockAction({ actionId: 'runbook.approve', value: JSON.stringify({ runId: id, stepId: 'approve' }), ...BOB, channelId: CHANNEL });
      expect((await sender.retry(clicked, 1, 'http_timeout')).status).toBe(200);
      await until(() => (slack.state.ephemeral.filter((e) => e.user === BOB.userId).length > before ? true : undefined), 'the approval reply');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(slack.state.ephemeral.filter((e) => e.user === BOB.userId)).toHaveLength(before + 1);
      expect((await store.get(id))?.snapshot.context.steps['approve']?.approvals).toHaveLength(1);
    });
  });

  describe('when probed', () => {
    it('is healthy and ready', async () => {
      const base = new URL(web.url);
      expect((await fetch(new URL('/healthz', base))).status).toBe(200);
      const ready = await fetch(new URL('/readyz', base));
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { redis: { ok: true }, runbooks: { ok: true, detail: '3 loaded' } } });
    });
  });
});

describe('runbook web configuration', () => {
  describe('when the Slack settings are missing', () => {
    it('exits 2 naming each missing variable, before touching Redis', async () => {
      const child = spawn(process.execPath, [BIN, 'web'], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, REDIS_URL: 'redis://127.0.0.1:1', SLACK_BOT_TOKEN: 'wrong-kind-of-token', PORT: 'eighty' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(2);
      expect(stderr).toContain('SLACK_BOT_TOKEN must be a bot token starting with xoxb- (value not shown)');
      expect(stderr).toContain('SLACK_SIGNING_SECRET is not set');
      expect(stderr).toContain('PORT must be a whole number from 0 to 65535; got "eighty"');
      expect(stderr).not.toContain('wrong-kind-of-token');
    });
  });
});

/**
 * Incidents in Slack end to end, as Slack drives them: real `runbook web` and `runbook worker`
 * processes (the worker has SLACK_BOT_TOKEN, so it performs the incident effects and the run
 * messages) on the test Redis under a fresh prefix, the Slack Web API stand-in, and signed slash
 * commands. Assertions are on what Slack received (channels, members, pins, posts) and on the
 * ephemeral replies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunStore } from '../../src/engine/run-store.ts';
import type { SlackStandIn, StandInMessage } from '../../src/sandbox/slack.ts';
import type { SlackDelivery, SlackRequestSender } from '../../src/sandbox/slack-requests.ts';
import type { WebProcess } from '../helpers/processes.ts';
import { startSlackE2e, type SlackE2e } from '../helpers/slack-e2e.ts';
import { outputTail, sleep, waiter } from '../helpers/wait.ts';

const SECRET = 'e2e-incidents-secret';
const OTHER_CHANNEL = 'C0MLINC001';
const ALICE = { userId: 'U0REQUEST1', userName: 'alice' };
const BOB = { userId: 'U0APPROVE1', userName: 'bob' };

const ROLLBACK = `---
id: incident-rollback
title: Roll back a model
params:
  model: { type: string, pattern: "^[a-z0-9-]+$" }
triggers: { slack: "rollback <model>" }
---
# Roll back

## Roll back {#rollback}
\`\`\`record
label: "rolled back {{ params.model }} for {{ incident.id }}"
timeout: 10s
\`\`\`
`;

let e2e: SlackE2e | undefined;
let slack: SlackStandIn;
let sender: SlackRequestSender;
let web: WebProcess;
let store: RunStore;

beforeAll(async () => {
  e2e = await startSlackE2e({ name: 'incidents', runbooks: { 'incident-rollback.md': ROLLBACK }, signingSecret: SECRET });
  ({ slack, sender, web, store } = e2e);
}, 60_000);

afterAll(() => e2e?.close(), 60_000);

const until = waiter({ timeoutMs: 20_000, intervalMs: 50, describe: outputTail('web', () => web.output(), 3_000) });

/** The whole ephemeral reply to a command (text and blocks). */
async function reply(delivery: SlackDelivery): Promise<string> {
  const [response] = await sender.waitForResponses(delivery.responseUrl ?? '', 1, 15_000);
  return JSON.stringify(response?.body ?? null);
}

async function command(text: string, who: { userId: string; userName: string }, channelId: string): Promise<string> {
  const delivery = await sender.slashCommand({ text, ...who, channelId });
  expect(delivery.status).toBe(200);
  return reply(delivery);
}

const shown = (m: StandInMessage | undefined) => (m ? `${m.text}\n${JSON.stringify(m.blocks ?? [])}` : '');

/** The one pinned message of the channel once it satisfies `predicate`. */
const pinnedWhere = (channel: string, predicate: (text: string) => boolean, what: string) =>
  until(() => {
    const pinned = slack.state.pinnedIn(channel);
    return pinned.length === 1 && predicate(shown(pinned[0])) ? shown(pinned[0]) : undefined;
  }, what);

const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');

describe('incidents in Slack', () => {
  let channel = '';
  let incidentId = '';

  describe('when /runbook incident declare is typed', () => {
    it('creates the inc-<date>-<slug> channel with the declarer in it and pins a summary', async () => {
      const answer = await command('incident declare "Model latency high" sev2', ALICE, OTHER_CHANNEL);
      incidentId = /(INC-\d+)/.exec(answer)?.[1] ?? '';
      expect(answer).toContain('Declared');
      expect(incidentId).not.toBe('');
      const name = `inc-${today()}-model-latency-high`;
      const made = await until(() => [...slack.state.channels.values()].find((c) => c.name === name), `channel ${name}`);
      channel = made.id;
      expect(slack.state.callsTo('conversations.create')).toEqual([expect.objectContaining({ name })]);
      await until(() => (slack.state.channels.get(channel)?.members.includes(ALICE.userId) ? true : undefined), 'alice invited');
      const summary = await pinnedWhere(channel, (t) => t.includes('Model latency high'), 'the pinned summary');
      expect(summary).toContain(incidentId);
      expect(summary).toContain('*Severity:* SEV2');
      expect(summary).toContain('Triggered, not acknowledged yet');
      expect(summary).toContain('*Declared by:* <@U0REQUEST1>');
    });
  });

  describe('when incident ack is typed outside any incident channel', () => {
    it('says so privately, points at the open incident and changes nothing', async () => {
      const answer = await command('incident ack', BOB, OTHER_CHANNEL);
      expect(answer).toContain('belongs to no incident. Nothing was done.');
      expect(answer).toContain(incidentId);
      expect(answer).toContain(`<#${channel}>`);
      await sleep(500);
      expect(shown(slack.state.pinnedIn(channel)[0])).toContain('Triggered, not acknowledged yet');
    });
  });

  describe('when incident ack is typed in the incident channel', () => {
    it('acknowledges it as that user: the summary and the channel say so', async () => {
      expect(await command('incident ack', BOB, channel)).toContain('You acknowledged');
      const summary = await pinnedWhere(channel, (t) => t.includes('Acknowledged by <@U0APPROVE1>'), 'the summary acknowledged by bob');
      expect(summary).toContain('Acknowledged by bob');
      await until(() => (slack.state.messagesIn(channel).some((m) => m.text.includes(`${incidentId} acknowledged by bob`)) ? true : undefined), 'the acknowledgement post');
      expect(await command('incident ack', ALICE, channel)).toContain('already acknowledged');
    });
  });

  describe('when a runbook is started in the incident channel', () => {
    it('belongs to the incident: its run message is in the channel and the incident lists it', async () => {
      const answer = await command('rollback model-x', ALICE, channel);
      const runId = /Started run `([0-9A-Z]{26})`/.exec(answer)?.[1] ?? '';
      expect(runId).not.toBe('');
      const run = await until(async () => {
        const found = await store.get(runId);
        return found && found.status !== 'active' ? found : undefined;
      }, 'the run to finish');
      expect(run.status).toBe('succeeded');
      expect(run.incidentId).toBe(incidentId);
      await until(() => slack.state.messagesIn(channel).find((m) => (m.metadata as { event_payload?: { run_id?: string } } | undefined)?.event_payload?.run_id === runId), 'the run message in the channel');
      const summary = await pinnedWhere(channel, (t) => t.includes(runId) && t.includes('succeeded'), 'the run in the summary');
      expect(summary).toContain('`incident-rollback`');
      const status = await command('incident status', ALICE, channel);
      expect(status).toContain(runId);
      expect(status).toContain('Acknowledged by <@U0APPROVE1>');
    });
  });

  describe('when incident resolve is typed with a resolution', () => {
    it('resolves it: the summary shows who, when and the resolution', async () => {
      expect(await command('incident resolve rolled back model-x', ALICE, channel)).toContain('You resolved');
      const summary = await pinnedWhere(channel, (t) => t.includes('Resolved by <@U0REQUEST1>'), 'the resolved summary');
      expect(summary).toContain('*Resolution:* rolled back model-x');
      expect(summary).toContain('*Lasted:*');
      expect(slack.state.pinnedIn(channel)).toHaveLength(1);
      expect(slack.state.callsTo('pins.add')).toHaveLength(1);
    });
  });
});

/**
 * The Slack incident effects on a real runtime (Redis, fresh prefix; the incident-effects and
 * notify workers) with the real `@slack/web-api` client over HTTP against the Slack stand-in:
 * channel names already taken, a lost `conversations.create` reply, a 429, and the run message of
 * a run auto-started for an incident.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LogLevel } from '@slack/web-api';
import type { IncidentEffectHandler } from '../../../src/engine/incident-port.ts';
import { createSlackIncidentEffects } from '../../../src/bot/incident-slack.ts';
import { createSlackNotifier, lateBoundNotifier } from '../../../src/bot/notifier.ts';
import { createSlackClient } from '../../../src/integrations/slack.ts';
import { startSlackStandIn, type SlackStandIn } from '../../../src/sandbox/slack.ts';
import { createTestEngine, quietLogger, type TestEngine } from '../../helpers/engine.ts';
import { until } from '../../helpers/wait.ts';

const alice = { id: 'U0REQUEST1', name: 'alice' };
const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');

interface Harness {
  readonly t: TestEngine;
  readonly standIn: SlackStandIn;
  /** Runs one effect job through the handler, as a redelivery would. */
  readonly handler: IncidentEffectHandler;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(channels?: Parameters<typeof startSlackStandIn>[0]): Promise<Harness> {
  const standIn = await startSlackStandIn(channels);
  const slack = createSlackClient({ token: 'xoxb-test-token', apiUrl: standIn.url, retries: 0, rejectRateLimitedCalls: true, timeoutMs: 2_000, logLevel: LogLevel.ERROR });
  let handler: IncidentEffectHandler = async () => undefined;
  const late = lateBoundNotifier();
  const t = await createTestEngine({ incidentEffects: (job) => handler(job), notifier: late.notifier });
  handler = createSlackIncidentEffects({ slack, incidents: t.runtime.incidents, runs: t.runtime.engine, redis: t.redis, prefix: t.prefix, queue: t.runtime.incidentQueues.effects, logger: quietLogger });
  late.bind(createSlackNotifier({ slack, redis: t.redis, prefix: t.prefix, engine: t.runtime.engine, queue: t.runtime.queues.notify, incidents: t.runtime.incidents, logger: quietLogger }));
  cleanups.push(async () => {
    await t.close();
    await standIn.close();
  });
  return { t, standIn, handler: (job) => handler(job) };
}

const channelNamed = (h: Harness, name: string) => [...h.standIn.state.channels.values()].find((c) => c.name === name);

describe('Slack incident effects', () => {
  describe('when the channel name is taken by another channel', () => {
    it('creates <name>-2, and a redelivered job creates nothing more', async () => {
      const name = `inc-${today()}-disk-full`;
      const h = await harness({ channels: [{ id: 'C0OLD00001', name }] });
      const { incident } = await h.t.runtime.incidents.declare({ title: 'Disk full', source: 'slack', declaredBy: alice, responders: [alice.id] });
      const made = await until(() => channelNamed(h, `${name}-2`), 'the -2 channel');
      const linked = await until(async () => (await h.t.runtime.incidents.get(incident.id))?.context.slack ?? undefined, 'the channel on the incident');
      expect(linked).toEqual(expect.objectContaining({ channelId: made.id, name: `${name}-2` }));
      await until(() => h.standIn.state.channels.get(made.id)?.members.includes(alice.id), 'alice invited');

      await h.handler({ incidentId: incident.id, version: 1, effect: { kind: 'incident.channel.create', name, responders: [alice.id] } });
      expect(h.standIn.state.callsTo('conversations.create').filter((c) => c['name'] === `${name}-3`)).toEqual([]);
      expect([...h.standIn.state.channels.values()].filter((c) => c.name.startsWith(name))).toHaveLength(2);
      await until(() => h.standIn.state.pinnedIn(made.id).length === 1, 'the pinned summary');
    });
  });

  describe('when the reply to conversations.create is lost', () => {
    it('finds the channel it made on redelivery instead of making a second one', async () => {
      const h = await harness();
      h.standIn.state.dropNextReply('conversations.create');
      const { incident } = await h.t.runtime.incidents.declare({ title: 'Lost reply', source: 'slack', declaredBy: alice, responders: [alice.id] });
      const name = `inc-${today()}-lost-reply`;
      const linked = await until(async () => (await h.t.runtime.incidents.get(incident.id))?.context.slack ?? undefined, 'the channel on the incident', { timeoutMs: 20_000 });
      expect(linked.name).toBe(name);
      expect([...h.standIn.state.channels.values()].filter((c) => c.name.startsWith(name))).toHaveLength(1);
      expect(h.standIn.state.calls.filter((c) => c.method === 'conversations.create').map((c) => c.outcome)).toEqual(['dropped', 'name_taken']);
    });
  });

  describe('when Slack answers 429', () => {
    it('posts after Retry-After instead of failing, once', async () => {
      const h = await harness();
      const { incident } = await h.t.runtime.incidents.declare({ title: 'Rate limited', source: 'slack', declaredBy: alice });
      const channel = await until(async () => {
        const slack = (await h.t.runtime.incidents.get(incident.id))?.context.slack;
        return slack?.summaryTs ? slack : undefined;
      }, 'the summary');
      h.standIn.state.rateLimitNext(1, 1, 'chat.postMessage');
      await h.t.runtime.incidents.send(incident.id, { type: 'incident.acknowledge', by: alice, source: 'slack' });
      const post = await until(() => h.standIn.state.messagesIn(channel.channelId).find((m) => m.text.includes('acknowledged by alice')), 'the post after the 429');
      expect(post).toBeDefined();
      expect(h.standIn.state.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.outcome)).toContain('ratelimited');
      await new Promise((r) => setTimeout(r, 1_500));
      expect(h.standIn.state.messagesIn(channel.channelId).filter((m) => m.text.includes('acknowledged by alice'))).toHaveLength(1);
    });
  });

  describe('when a run was auto-started for an incident', () => {
    it('posts its run message in the incident channel', async () => {
      const h = await harness();
      const { incident } = await h.t.runtime.incidents.declare({ title: 'Auto run', source: 'pagerduty', declaredBy: { id: 'pagerduty', name: 'PagerDuty' } });
      const run = await h.t.runtime.engine.startRun({
        file: 'auto.md', source: '# Auto\n\n## Look {#look}\nLook at the graphs.\n', params: {}, requester: { id: 'pagerduty', name: 'PagerDuty' },
        incident: { id: incident.id }, origin: { kind: 'pagerduty', incidentId: incident.id },
      });
      const channel = await until(async () => (await h.t.runtime.incidents.get(incident.id))?.context.slack ?? undefined, 'the channel');
      const message = await until(() => h.standIn.state.messagesIn(channel.channelId).find((m) => (m.metadata as { event_payload?: { run_id?: string } } | undefined)?.event_payload?.run_id === run.id), 'the run message in the incident channel');
      expect(JSON.stringify(message.blocks)).toContain('runbook.done');
    });
  });
});

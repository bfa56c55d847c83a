/**
 * `runbook dev --demo`: a scripted incident played against the running dev stack and narrated in
 * the terminal, so the whole story is visible over SSH. Every stage acts the way the outside world
 * would (a signed PagerDuty webhook, a signed slash command, a signed click by another person) and
 * then waits for what it can observe in the stand-ins (a channel, a note, a button, a control API
 * call). A stage that does not happen in time is reported by name, with what was expected; stages
 * that need it are skipped, the others still run.
 */
import { RUN_ACTIONS } from '../bot/run-message/actions.ts';
import { triggerPagerDutyIncident, updatePagerDutyIncident } from '../sandbox/console/pagerduty-alert.ts';
import type { StandInMessage } from '../sandbox/slack.ts';
import type { DevStack } from './dev-stack.ts';

/** Options of {@link playDemo}; durations in milliseconds. */
export interface DemoOptions {
  /** Writes one narrated line. */
  readonly say: (line: string) => void;
  /** How long each stage may take before it is reported as not having happened. @default 60000 */
  readonly stageTimeoutMs?: number;
  /** @default 'model-x' */
  readonly model?: string;
  /** Aborted: the stage in progress stops waiting and no further stage runs (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** What happened: the stages that did not, by name. */
export interface DemoResult {
  readonly ok: boolean;
  readonly failedStages: readonly string[];
}

const REQUESTER = { userId: 'U0REQUEST1', userName: 'alice' } as const;
const APPROVER = { userId: 'U0APPROVE1', userName: 'bob' } as const;
const POLL_MS = 100;

/** Plays the scripted incident; never throws for a stage that did not happen. */
export async function playDemo(stack: DevStack, options: DemoOptions): Promise<DemoResult> {
  const { say } = options;
  const timeoutMs = options.stageTimeoutMs ?? 60_000;
  const model = options.model ?? 'model-x';
  const slack = stack.sandbox.state.slack;
  const failed: string[] = [];
  const signal = options.signal;
  const stage = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    if (signal?.aborted) return undefined;
    try {
      return await run();
    } catch (error) {
      failed.push(name);
      say(`  ✗ stage "${name}" did not happen: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };
  const waitFor = <T>(what: string, probe: () => T | undefined): Promise<T> => until(what, probe, timeoutMs, signal);
  const channelsBefore = new Set(slack.channels.keys());
  const versionBefore = stack.sandbox.state.serving.servingVersion(model);

  say(`\n▶ 1. PagerDuty: "High p99 latency on ${model}" on service model-serving`);
  const alert = await stage('pagerduty alert', async () => {
    const { incident, delivery } = await triggerPagerDutyIncident(stack.alert, { service: 'model-serving', title: `High p99 latency on ${model}` });
    say(`  incident ${incident.id} created in the PagerDuty stand-in, which delivered the signed webhook incident.triggered → the bot answered HTTP ${delivery.status}`);
    if (delivery.status >= 300) throw new Error(`POST /pagerduty/webhook answered HTTP ${delivery.status} (expected 2xx): ${delivery.body.slice(0, 120)}`);
    return incident;
  });

  say('\n▶ 2. Incident and its Slack channel');
  const channel = alert ? await stage('incident channel', async () => {
    const created = await waitFor('a new Slack channel (conversations.create) for the incident', () => [...slack.channels.values()].find((c) => !channelsBefore.has(c.id)));
    say(`  #${created.name} created by the bot`);
    return created;
  }) : undefined;

  say('\n▶ 3. Diagnostics run automatically (read-only) and post findings');
  if (alert) {
    await stage('diagnostics findings', async () => {
      const note = await waitFor(`a PagerDuty note on ${alert.id} with the findings`, () => stack.sandbox.state.pagerduty.notes.get(alert.id)?.[0]);
      const { platform, serving, traffic } = stack.sandbox.state;
      const reads = platform.standIns.metrics.state.requests.length;
      const writes = [...serving.requests, ...traffic.requests].filter((r) => r.method !== 'GET' && r.method !== 'HEAD').length;
      if (writes > 0) throw new Error(`diagnostics made ${writes} write(s) to the serving or traffic control API; they must be read-only`);
      say(`  findings posted as a PagerDuty note (${note.content.length} characters) after ${reads} metrics read(s); serving and traffic untouched`);
    });
  }

  const where = channel ?? [...slack.channels.values()].find((c) => c.name === 'ml-incidents');
  say(`\n▶ 4. ${REQUESTER.userName} types /runbook rollback ${model} in #${where?.name ?? 'ml-incidents'}`);
  const gate = where ? await stage('rollback requested', async () => {
    const messagesBefore = slack.messagesIn(where.id).length;
    const delivery = await stack.sender.slashCommand({ ...REQUESTER, text: `rollback ${model}`, channelId: where.id, channelName: where.name });
    say(`  signed slash command → bot acked HTTP ${delivery.status}`);
    const found = await waitFor('a run message with an Approve button', () => slack.messagesIn(where.id).slice(messagesBefore).map(approveButton).find(Boolean));
    say(`  run message posted; the approval gate waits for @ml-oncall-leads (not ${REQUESTER.userName}: no self-approval)`);
    return found;
  }) : undefined;

  say(`\n▶ 5. ${APPROVER.userName} (@ml-oncall-leads) clicks Approve`);
  if (gate && where) {
    await stage('approval', async () => {
      const delivery = await stack.sender.blockAction({ ...APPROVER, actionId: RUN_ACTIONS.approve, value: gate.value, messageTs: gate.ts, channelId: where.id, blockId: gate.blockId });
      say(`  signed block_actions click → bot acked HTTP ${delivery.status}`);
      await waitFor('the run message without its Approve button', () => (slack.messagesIn(where.id).find((m) => m.ts === gate.ts && !approveButton(m)) ? true : undefined));
      say('  approval recorded; the run message updated in place');
    });
  }

  say(`\n▶ 6. The rollback runs against the serving control API`);
  if (gate) {
    await stage('rollback executed', async () => {
      const serving = stack.sandbox.state.serving;
      const before = versionBefore;
      const call = await waitFor(`POST /v1/models/${model}/deployment at the serving stand-in`, () => serving.requests.find((r) => r.method === 'POST' && r.path === `/v1/models/${model}/deployment`));
      const now = await waitFor(`${model} serving another version than ${before ?? 'before'}`, () => {
        const version = serving.servingVersion(model);
        return version && version !== before ? version : undefined;
      });
      say(`  ${call.method} ${call.path} ${JSON.stringify(call.body)} (Idempotency-Key set: ${call.idempotencyKey ? 'yes' : 'no'}); ${model} now serves ${now} (was ${before ?? '?'})`);
    });
  }

  say('\n▶ 7. The on-call acknowledges, then resolves the incident in PagerDuty');
  if (alert) {
    await stage('incident acknowledged and resolved', async () => {
      const before = new Set(channel ? slack.messagesIn(channel.id).map((m) => JSON.stringify(m)) : []);
      for (const status of ['acknowledged', 'resolved'] as const) {
        const { delivery } = await updatePagerDutyIncident(stack.alert, alert.id, status);
        say(`  ${alert.id} ${status} in PagerDuty; its signed webhook incident.${status} → the bot answered HTTP ${delivery.status}`);
        if (delivery.status >= 300) throw new Error(`POST /pagerduty/webhook answered HTTP ${delivery.status} to incident.${status}`);
      }
      if (!channel) return;
      // What the bot shows: a new or updated message in the incident channel that says so.
      await waitFor(`a message in #${channel.name} showing the incident resolved`, () =>
        slack.messagesIn(channel.id).find((m) => !before.has(JSON.stringify(m)) && /resolved/i.test(`${m.text} ${JSON.stringify(m.blocks ?? '')}`)));
      say(`  #${channel.name} shows the incident resolved`);
    });
  }

  say('\n▶ 8. runbook audit verify');
  await stage('audit verified', async () => {
    const result = await stack.app.audit.verify();
    if (!result.ok) throw new Error(`the audit chain is broken at record ${result.firstBadSeq}: ${result.detail}`);
    say(`  ✓ ${result.count} audit records, hash chain intact`);
  });

  say(failed.length === 0 ? '\n✓ Demo complete.' : `\n✗ Demo finished; ${failed.length} stage(s) did not happen: ${failed.join(', ')}`);
  return { ok: failed.length === 0, failedStages: failed };
}

/** The Approve button of a run message, with what a click needs. */
function approveButton(message: StandInMessage): { ts: string; value: string; blockId: string } | undefined {
  const blocks = Array.isArray(message.blocks) ? (message.blocks as Record<string, unknown>[]) : [];
  for (const block of blocks) {
    if (block['type'] !== 'actions' || !Array.isArray(block['elements'])) continue;
    const button = (block['elements'] as Record<string, unknown>[]).find((e) => e['action_id'] === RUN_ACTIONS.approve);
    if (button && typeof button['value'] === 'string') return { ts: message.ts, value: button['value'], blockId: String(block['block_id'] ?? '') };
  }
  return undefined;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new Error(`stopped while waiting for ${what}`);
    const value = probe();
    if (value !== undefined && value !== null) return value;
    if (Date.now() > deadline) throw new Error(`expected ${what} within ${Math.round(timeoutMs / 1000)} s; it did not appear`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

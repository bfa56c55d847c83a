/**
 * The bot's Slack port over a `@slack/web-api` client (Bolt's `app.client`) and `fetch` for
 * `response_url`s, plus an adapter from the bot's JSON logger to the `Logger` Bolt expects.
 */
import { LogLevel, type Logger } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { BotLogger, BotSlack } from './ports.ts';

/** Deadline of one POST to a `response_url`. */
const RESPOND_TIMEOUT_MS = 5_000;

/** Implements {@link BotSlack} with `client` (its retry policy applies) and `fetchImpl` for `response_url`s. */
export function createBotSlack(client: WebClient, fetchImpl: typeof fetch = fetch): BotSlack {
  return {
    respond: async (responseUrl, message) => {
      // As Bolt's own `respond()` does: JSON, no auth header; ephemeral, never replacing the original.
      const response = await fetchImpl(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) }),
        signal: AbortSignal.timeout(RESPOND_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`response_url answered HTTP ${response.status}`);
    },
    postEphemeral: async (channel, user, message) => {
      await client.chat.postEphemeral({ channel, user, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) });
    },
    openView: async (triggerId, view) => {
      await client.views.open({ trigger_id: triggerId, view });
    },
    userGroups: async () => {
      const reply = await client.usergroups.list({ include_disabled: false });
      return (reply.usergroups ?? []).flatMap((g) => (g.id && g.handle ? [{ id: g.id, handle: g.handle }] : []));
    },
    userGroupMembers: async (groupId) => (await client.usergroups.users.list({ usergroup: groupId })).users ?? [],
  };
}

/** Bolt's logger interface on top of the bot's JSON logger; Bolt's debug output is dropped. */
export function boltLogger(logger: BotLogger): Logger {
  let level = LogLevel.INFO;
  const text = (parts: readonly unknown[]) => parts.map((p) => (p instanceof Error ? `${p.name}: ${p.message}` : typeof p === 'string' ? p : JSON.stringify(p))).join(' ');
  return {
    debug: () => undefined,
    info: (...parts: unknown[]) => logger.info({ component: 'bolt' }, text(parts)),
    warn: (...parts: unknown[]) => logger.warn({ component: 'bolt' }, text(parts)),
    error: (...parts: unknown[]) => logger.error({ component: 'bolt' }, text(parts)),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/**
 * What a person does in the console, turned into what Slack would send the bot: a slash command,
 * a button click (`block_actions`) or a modal submission (`view_submission`), each signed with the
 * app's signing secret by the request sender (`../slack-requests.ts`), as the selected simulated
 * user. Input comes from the page, so it is parsed with a schema first; anything else is refused
 * with a message that says what was expected.
 */
import { z } from 'zod';
import { CodedError } from '../../shared/coded-error.ts';
import type { SandboxState } from '../index.ts';
import { selectInput, textInput, type SlackDelivery, type SlackRequestSender, type ViewInputState } from '../slack-requests.ts';
import type { ConsoleOrigins } from './snapshot.ts';

const id = z.string().regex(/^[A-Z0-9]{2,32}$/, 'a Slack id such as U0REQUEST1');
export const commandInput = z.object({ user: id, channel: id, text: z.string().min(1).max(4_000) });
export const actionInput = z.object({
  user: id, channel: id, messageTs: z.string().regex(/^\d+\.\d+$/).optional(),
  actionId: z.string().min(1).max(255), value: z.string().max(2_000).optional(), blockId: z.string().max(255).optional(),
});
const inputState = z.union([
  z.object({ type: z.literal('plain_text_input'), value: z.string().max(3_000).nullable() }),
  z.object({ type: z.literal('static_select'), value: z.string().max(150).nullable() }),
]);
export const submitInput = z.object({ user: id, viewId: z.string().min(1).max(64), values: z.record(z.string(), z.record(z.string(), inputState)) });
export const closeInput = z.object({ viewId: z.string().min(1).max(64) });

/** The outcome of one signed delivery, for the page. */
export interface ConsoleDeliveryJson {
  readonly status: number;
  /** The bot's ack body, when it sent one (a modal's `response_action: errors`). */
  readonly ack?: unknown;
}

/** Sends what the page asks for to the bot, remembering who asked (for replies and modals). */
export function createConsoleActions(state: SandboxState, sender: SlackRequestSender, origins: ConsoleOrigins) {
  const person = (userId: string) => {
    const user = state.slack.users.get(userId);
    if (!user) throw new ConsoleInputError(`no user ${userId} in the Slack stand-in; pick one of ${[...state.slack.users.keys()].join(', ')}`);
    return { userId: user.id, userName: user.name };
  };
  const channelNamed = (channelId: string) => {
    const channel = state.slack.channels.get(channelId);
    if (!channel) throw new ConsoleInputError(`no channel ${channelId} in the Slack stand-in`);
    return channel;
  };
  const remember = (delivery: SlackDelivery, channel: string | undefined, user: string): ConsoleDeliveryJson => {
    if (delivery.responseUrl && channel) origins.responseUrls.set(delivery.responseUrl, { channel, user });
    if (delivery.triggerId) origins.triggers.set(delivery.triggerId, user);
    return { status: delivery.status, ...(delivery.body ? { ack: parseAck(delivery.body) } : {}) };
  };

  return {
    /** `/runbook rollback model-x` typed in a channel. */
    async command(input: z.infer<typeof commandInput>): Promise<ConsoleDeliveryJson> {
      const match = /^(\/[a-z][a-z0-9_-]*)(?:\s+([\s\S]*))?$/.exec(input.text.trim());
      if (!match?.[1]) throw new ConsoleInputError('only slash commands reach the bot here; type, for example, /runbook rollback model-x');
      const channel = channelNamed(input.channel);
      const who = person(input.user);
      // Slack fills trigger ids itself; the sender issues one per delivery, remembered for views.open.
      const delivery = await sender.slashCommand({ ...who, command: match[1], text: (match[2] ?? '').trim(), channelId: channel.id, channelName: channel.name });
      return remember(delivery, channel.id, who.userId);
    },
    /** A button in a message. */
    async click(input: z.infer<typeof actionInput>): Promise<ConsoleDeliveryJson> {
      const channel = channelNamed(input.channel);
      const who = person(input.user);
      const delivery = await sender.blockAction({
        ...who, channelId: channel.id, actionId: input.actionId,
        ...(input.value !== undefined ? { value: input.value } : {}), ...(input.messageTs ? { messageTs: input.messageTs } : {}), ...(input.blockId ? { blockId: input.blockId } : {}),
      });
      return remember(delivery, channel.id, who.userId);
    },
    /** A modal's Submit: the view as the bot opened it, with the person's inputs. */
    async submit(input: z.infer<typeof submitInput>): Promise<ConsoleDeliveryJson> {
      const view = state.slack.views.find((v) => v['id'] === input.viewId);
      if (!view || origins.closedViews.has(input.viewId)) throw new ConsoleInputError(`no open modal ${input.viewId}`);
      const values: Record<string, Record<string, ViewInputState>> = {};
      for (const [blockId, actions] of Object.entries(input.values)) {
        values[blockId] = Object.fromEntries(Object.entries(actions).map(([actionId, s]) => [actionId, s.type === 'plain_text_input' ? textInput(s.value) : selectInput(s.value)]));
      }
      const who = person(input.user);
      const delivery = await sender.viewSubmission({ ...who, view, values });
      const result = remember(delivery, undefined, who.userId);
      const ack = result.ack as Record<string, unknown> | undefined;
      // A bare 200 (or `response_action: clear`) closes the modal; `errors` keeps it open.
      if (delivery.status === 200 && ack?.['response_action'] !== 'errors') origins.closedViews.add(input.viewId);
      return result;
    },
    /** Cancel on a modal (the bot does not ask for `view_closed`, so nothing is sent). */
    close(input: z.infer<typeof closeInput>): void {
      origins.closedViews.add(input.viewId);
    },
  };
}

/** Bad input from the page: answered 400 with the message. */
export class ConsoleInputError extends CodedError<'console_input_invalid'> {
  constructor(message: string) {
    super('console_input_invalid', message, { retryable: false });
  }
}

function parseAck(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body.slice(0, 500);
  }
}

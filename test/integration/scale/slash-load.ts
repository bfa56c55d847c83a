/**
 * Drives many `/runbook` slash commands into several web processes as Slack would: signed
 * deliveries spread round-robin over the processes, a bounded number in flight, each one counted
 * as done once the bot's reply reached its `response_url` (so "in flight" bounds the real work of
 * starting runs, not just the 3-second acks).
 */
import type { SlackDelivery, SlackRequestSender } from '../../../src/sandbox/slack-requests.ts';

/** Options of {@link sendSlashCommands}. */
export interface SlashLoadOptions {
  /** One sender per web process; command `i` goes to `senders[i % senders.length]`. */
  readonly senders: readonly SlackRequestSender[];
  /** The command texts, e.g. `drill t-17`. */
  readonly texts: readonly string[];
  readonly user: { readonly userId: string; readonly userName: string };
  readonly channelId: string;
  /** Commands awaiting their reply at once. @default 20 */
  readonly inFlight?: number;
  /** How long one reply may take. @default 30000 */
  readonly replyTimeoutMs?: number;
  /** Called after each reply that started a run, with how many have so far. */
  readonly onStarted?: (count: number) => void;
}

/** What one command led to. */
export interface SlashOutcome {
  readonly text: string;
  /** Index into `senders`. */
  readonly sender: number;
  readonly delivery: SlackDelivery;
  /** The bot's reply text (the first post to the delivery's `response_url`). */
  readonly reply: string;
  /** The run the reply announced, if it announced one. */
  readonly runId?: string;
}

const STARTED = /Started run `([0-9A-Z]{26})`/;

/** Sends every command and resolves with each outcome, in `texts` order. */
export async function sendSlashCommands(options: SlashLoadOptions): Promise<SlashOutcome[]> {
  const { senders, texts } = options;
  const outcomes: SlashOutcome[] = new Array<SlashOutcome>(texts.length);
  let next = 0;
  let started = 0;
  const sendOne = async (index: number): Promise<SlashOutcome> => {
    const text = texts[index] ?? '';
    const senderIndex = index % senders.length;
    const sender = senders[senderIndex];
    if (!sender) throw new Error('sendSlashCommands: expected at least one sender');
    const delivery = await sender.slashCommand({ text, ...options.user, channelId: options.channelId });
    if (delivery.status !== 200) return { text, sender: senderIndex, delivery, reply: `HTTP ${delivery.status}: ${delivery.body.slice(0, 200)}` };
    const [posted] = await sender.waitForResponses(delivery.responseUrl ?? '', 1, options.replyTimeoutMs ?? 30_000);
    const body = posted?.body;
    const reply = typeof body === 'object' && body !== null && 'text' in body ? String(body.text) : JSON.stringify(body);
    const runId = STARTED.exec(reply)?.[1];
    if (runId) options.onStarted?.((started += 1));
    return { text, sender: senderIndex, delivery, reply, ...(runId ? { runId } : {}) };
  };
  const lane = async () => {
    while (next < texts.length) {
      const index = next;
      next += 1;
      outcomes[index] = await sendOne(index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.inFlight ?? 20, texts.length)) }, lane));
  return outcomes;
}

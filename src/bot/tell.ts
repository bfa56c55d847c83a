/**
 * Telling one person something only they see: through the `response_url` Slack gave with the
 * request when there is one, else `chat.postEphemeral` in the channel; when the first way fails
 * the other is tried. A reply that cannot be delivered is logged, never thrown: the work it
 * reports on has already happened.
 */
import type { BotLogger, BotMessage, BotSlack, ReplyTarget } from './ports.ts';

/** Sends `message` to `target`; `prefer` picks the first channel tried. */
export type Tell = (target: ReplyTarget, message: BotMessage, prefer?: 'response_url' | 'ephemeral') => Promise<void>;

/** Creates {@link Tell} over the bot's Slack port. */
export function createTell(slack: Pick<BotSlack, 'respond' | 'postEphemeral'>, logger: BotLogger): Tell {
  return async (target, message, prefer = 'response_url') => {
    const viaUrl = target.responseUrl ? () => slack.respond(target.responseUrl ?? '', message) : undefined;
    const viaEphemeral = target.channelId ? () => slack.postEphemeral(target.channelId ?? '', target.userId, message) : undefined;
    const ways = (prefer === 'response_url' ? [viaUrl, viaEphemeral] : [viaEphemeral, viaUrl]).filter((w): w is () => Promise<void> => w !== undefined);
    for (const way of ways) {
      try {
        return await way();
      } catch (error) {
        logger.warn({ user: target.userId, channel: target.channelId, err: String(error) }, 'could not deliver a reply; trying the other way if there is one');
      }
    }
    logger.error({ user: target.userId, channel: target.channelId, text: message.text.slice(0, 200) }, 'a reply could not be delivered');
  };
}

/**
 * The run message's pure view builders (Block Kit) and Markdown → mrkdwn conversion. The notifier
 * (`../notifier.ts`) performs the Slack calls; the bot's button handlers use `RUN_ACTIONS` and
 * `decodeActionValue`.
 */
export { renderRunMessage, outputPosts, auditReference, FINAL_ICONS, type OutputPost } from './render.ts';
export { RUN_ACTIONS, RUN_ACTIONS_BLOCK_ID, decodeActionValue, encodeActionValue, type RunActionId, type RunActionValue } from './actions.ts';
export { BLOCK_LIMITS, type RunMessageBlock, type SlackMessageContent } from './blocks.ts';
export { markdownToMrkdwn, escapeMrkdwn } from './mrkdwn.ts';
export { redactorFor, SECRET_MASK } from './format.ts';

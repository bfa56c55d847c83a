/**
 * The few Block Kit shapes the run message uses, as plain JSON types, and Slack's size limits
 * (https://docs.slack.dev/reference/block-kit/blocks). Declared here rather than imported from
 * `@slack/types` (not a direct dependency) so the view builders stay free of Slack packages; the
 * objects are structurally what `chat.postMessage` / `chat.update` accept as `blocks`.
 */

/** Slack's limits that a message can run into. */
export const BLOCK_LIMITS = {
  /** Blocks in one message. */
  blocksPerMessage: 50,
  /** Characters of a section's `text`. */
  sectionText: 3_000,
  /** Characters of a header's plain_text. */
  headerText: 150,
  /** Characters of a button's text. */
  buttonText: 75,
  /** Characters of a button's `value`. */
  buttonValue: 2_000,
  /** Elements of a context block. */
  contextElements: 10,
  /** Characters of a confirmation dialog's title / text / button labels. */
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
} as const;

/** Plain text (headers, buttons, dialogs); `emoji` lets `:shortcodes:` render. */
export interface PlainText {
  readonly type: 'plain_text';
  readonly text: string;
  readonly emoji?: boolean;
}

/** Slack mrkdwn text (already escaped by the builder). */
export interface MrkdwnText {
  readonly type: 'mrkdwn';
  readonly text: string;
}

/** The confirmation a button asks for before it fires. */
export interface ConfirmDialog {
  readonly title: PlainText;
  readonly text: PlainText;
  readonly confirm: PlainText;
  readonly deny: PlainText;
  readonly style?: 'primary' | 'danger';
}

/** A button; `value` comes back in the `block_actions` payload. */
export interface ButtonElement {
  readonly type: 'button';
  readonly action_id: string;
  readonly text: PlainText;
  readonly value: string;
  readonly style?: 'primary' | 'danger';
  readonly confirm?: ConfirmDialog;
}

/** A header: large plain text, at most 150 characters. */
export interface HeaderBlock {
  readonly type: 'header';
  readonly block_id?: string;
  readonly text: PlainText;
}

/** A section of mrkdwn, at most 3,000 characters. */
export interface SectionBlock {
  readonly type: 'section';
  readonly block_id?: string;
  readonly text: MrkdwnText;
}

/** A horizontal rule. */
export interface DividerBlock {
  readonly type: 'divider';
}

/** Small grey text under the message. */
export interface ContextBlock {
  readonly type: 'context';
  readonly block_id?: string;
  readonly elements: readonly MrkdwnText[];
}

/** A row of buttons. */
export interface ActionsBlock {
  readonly type: 'actions';
  readonly block_id?: string;
  readonly elements: readonly ButtonElement[];
}

/** Every block the run message uses. */
export type RunMessageBlock = HeaderBlock | SectionBlock | DividerBlock | ContextBlock | ActionsBlock;

/** A message: `text` is the notification / fallback text, `blocks` what Slack shows. */
export interface SlackMessageContent {
  readonly text: string;
  readonly blocks: readonly RunMessageBlock[];
}

/** A plain_text object cut to `max` characters. */
export function plainText(text: string, max: number): PlainText {
  return { type: 'plain_text', text: cut(text, max), emoji: true };
}

/** A section of mrkdwn; the caller keeps `text` within {@link BLOCK_LIMITS.sectionText}. */
export function section(text: string, blockId?: string): SectionBlock {
  return { type: 'section', ...(blockId ? { block_id: blockId } : {}), text: { type: 'mrkdwn', text } };
}

/** The one divider block. */
export const divider: DividerBlock = { type: 'divider' };

/** `text` cut to `max` characters (ending in `…` when cut). */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * Small pure helpers for Block Kit messages: escaping, truncation, sections. Every reply the bot
 * makes is built from these, so the text fallback and the blocks always say the same thing.
 */
import type { types } from '@slack/bolt';
import type { BotMessage } from '../ports.ts';

/** Slack's limit on a section's text. */
const MAX_SECTION_CHARS = 3_000;

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Untrusted text as inline code: escaped, backticks removed, one line, at most `max` characters. */
export function code(text: string, max = 120): string {
  const flat = text.replace(/`/g, "'").replace(/\s+/g, ' ').trim();
  return `\`${escapeText(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat)}\``;
}

/** At most `max` characters, with `…`. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A mrkdwn section. */
export function section(mrkdwn: string): types.SectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(mrkdwn, MAX_SECTION_CHARS) } };
}

/** A small grey line. */
export function contextLine(mrkdwn: string): types.ContextBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: clip(mrkdwn, MAX_SECTION_CHARS) }] };
}

/** A message whose blocks are one section per paragraph; `text` is all of them. */
export function paragraphs(...parts: readonly (string | undefined)[]): BotMessage {
  const kept = parts.filter((p): p is string => p !== undefined && p.length > 0);
  return { text: clip(kept.join('\n\n'), 3_900), blocks: kept.map(section) };
}

/** A mention of a Slack user id, or a group handle as written. */
export function who(entry: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(entry) ? `<@${entry}>` : escapeText(entry);
}

/** `a, b or c`. */
export function listWords(words: readonly string[], last = 'or'): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} ${last} ${words[words.length - 1] ?? ''}`;
}

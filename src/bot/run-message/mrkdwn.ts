/**
 * Markdown → Slack mrkdwn, and the text surgery Block Kit's limits need. Slack's mrkdwn is not
 * Markdown (`*bold*`, `_italic_`, `<url|text>` links, no headings, `&`, `<`, `>` must be escaped),
 * so runbook instructions go through `slackify-markdown` (remark-based, maintained) and then one
 * pass here that escapes whatever `&`, `<`, `>` it left bare (inside code, raw HTML, `<!here>`),
 * keeping only the links and user/channel mentions it produced. Pure functions.
 */
import { slackifyMarkdown } from 'slackify-markdown';

/** Escapes the three characters Slack reserves (https://docs.slack.dev/messaging/formatting-message-text#escaping). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * What may stay as written in converted output: quote markers at the start of a line, entities,
 * `<https://…|text>` links and `<@U…>` / `<#C…>` mentions. Anything else that is `&`, `<` or `>` gets escaped, so a runbook
 * cannot ping `<!channel>` or smuggle a control sequence through a code block or raw HTML.
 */
const KEEP_OR_ESCAPE = /^[ \t]*(?:>[ \t]?)+|&(?:amp|lt|gt);|<(?:(?:https?|ftp|mailto):[^\s<>|]+(?:\|[^<>]*)?|[@#][A-Z0-9]+(?:\|[^<>]*)?)>|[&<>]/gm;

/** Escapes bare `&`, `<`, `>` in mrkdwn while keeping entities, links and user/channel mentions. */
export function sanitizeMrkdwn(mrkdwn: string): string {
  return mrkdwn.replace(KEEP_OR_ESCAPE, (match) => (match.length === 1 ? escapeMrkdwn(match) : match));
}

const converted = new Map<string, string>();
const MAX_MEMO_ENTRIES = 256;

/**
 * Converts Markdown to mrkdwn: lists (`•`, numbers), code (fenced and inline), links, emphasis,
 * strike, quotes; headings become bold lines; HTML comments are dropped. Memoized, since the
 * converter takes a while on long documents and a run re-renders the same instructions often.
 */
export function markdownToMrkdwn(markdown: string): string {
  const hit = converted.get(markdown);
  if (hit !== undefined) return hit;
  const out = sanitizeMrkdwn(slackifyMarkdown(markdown)).replace(/\s+$/, '');
  if (converted.size >= MAX_MEMO_ENTRIES) converted.clear();
  converted.set(markdown, out);
  return out;
}

/** Where `text` can be cut at or before `max` without splitting an entity (`&amp;`) or a `<…>` link. */
export function safeCutIndex(text: string, max: number): number {
  if (text.length <= max) return text.length;
  let index = max;
  const amp = text.lastIndexOf('&', index - 1);
  if (amp >= 0 && amp > index - 6 && !text.slice(amp, index).includes(';')) index = amp;
  const open = text.lastIndexOf('<', index - 1);
  if (open >= 0 && !text.slice(open, index).includes('>') && open > 0) index = open;
  // Avoid leaving half of a surrogate pair (an emoji) behind.
  const code = text.charCodeAt(index - 1);
  if (code >= 0xd800 && code <= 0xdbff) index -= 1;
  return index > 0 ? index : max;
}

const isFence = (line: string) => /^\s*```/.test(line);

/** Whether `text` ends inside an unclosed ``` block. */
function insideFence(text: string): boolean {
  return text.split('\n').filter(isFence).length % 2 === 1;
}

/** `text` cut to at most `max` characters, ending in `…` (and a closing fence when it cut a code block). */
export function truncateMrkdwn(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = text.slice(0, safeCutIndex(text, max - 5));
  return insideFence(head) ? `${head}…\n\`\`\`` : `${head}…`;
}

/**
 * Splits mrkdwn into chunks of at most `limit` characters at line breaks, for consecutive
 * sections. A code block cut in two is closed at the end of one chunk and reopened in the next,
 * so each section renders on its own; a line longer than a chunk is cut at a safe point.
 */
export function splitMrkdwn(text: string, limit: number): string[] {
  const chunks: string[] = [];
  const fenceCost = 4; // "\n```" to close a block cut at the end of a chunk
  let current = '';
  let open = false;
  const flush = () => {
    if (current.trim().length > 0) chunks.push(open ? `${current}\n\`\`\`` : current);
    current = open ? '```' : '';
  };
  for (const line of text.split('\n')) {
    for (const [i, piece] of cutLine(line, limit - fenceCost - 4).entries()) {
      const added = current.length === 0 ? piece : `${current}\n${piece}`;
      // The rest of a line cut in two starts the next chunk rather than a new line.
      if (i > 0 || (added.length + fenceCost > limit && current.length > 0 && current !== '```')) {
        flush();
        current = current.length === 0 ? piece : `${current}\n${piece}`;
      } else {
        current = added;
      }
      if (isFence(piece)) open = !open;
    }
  }
  if (current.trim().length > 0 && current !== '```') chunks.push(open ? `${current}\n\`\`\`` : current);
  return chunks;
}

function cutLine(line: string, max: number): string[] {
  const pieces: string[] = [];
  let rest = line;
  while (rest.length > max) {
    const at = safeCutIndex(rest, max);
    pieces.push(rest.slice(0, at));
    rest = rest.slice(at);
  }
  pieces.push(rest);
  return pieces;
}

/** A code block of `text` (escaped, fences inside it defused), at most `max` characters in all. */
export function codeBlock(text: string, max: number): string {
  const body = escapeMrkdwn(text).replace(/```/g, '``\u200b`');
  const room = max - 8;
  const shown = body.length <= room ? body : `${body.slice(0, safeCutIndex(body, room - 1))}…`;
  return `\`\`\`\n${shown}\n\`\`\``;
}

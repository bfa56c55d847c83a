/**
 * The `/runbook` grammar, pure: `/runbook <command> [positional params…] [name=value…]` plus the
 * built-in `list [tag]`, `help [runbook]`, `plan <runbook> …`, `status [run]` and
 * `cancel <run> [reason…]`, and `incident declare <title> [sev1|sev2|sev3]`, `incident ack`,
 * `incident mitigate [reason…]`, `incident resolve [resolution…]`, `incident status [INC-n]`.
 * Slack sends the text after the command with `&`, `<` and `>` escaped as HTML entities, and its
 * clients often turn straight quotes into smart ones (“ ” ‘ ’): both are handled here, so a value
 * can keep its spaces however it was typed.
 */
import { SEVERITIES, type Severity } from '../machines/incident-types.ts';

/** One word of the command text. */
export interface Token {
  readonly text: string;
  /** True when the word began with a quote: `"a=b"` is then a value, never a `name=value`. */
  readonly quoted: boolean;
}

/** The words, or why the text cannot be split into words. */
export type TokenizeResult = { readonly ok: true; readonly tokens: readonly Token[] } | { readonly ok: false; readonly error: string };

/** Opening quote → the characters that close it. Smart quotes close with their partner (or the same mark, as some keyboards send). */
const QUOTES: Readonly<Record<string, string>> = {
  '"': '"”“',
  "'": "'’",
  '“': '”“"',
  '”': '”"',
  '„': '“”"',
  '‘': '’‘\'',
  '’': '’\'',
};

const isSpace = (ch: string) => /\s/u.test(ch);

/**
 * Splits command text into words. A quote opens a quoted section only at the start of a word or
 * right after its first `=` (`reason="it's late"`), so apostrophes inside words (`don't`) stay
 * literal. Inside a section, `\` escapes the closing quote or itself.
 */
export function tokenize(input: string): TokenizeResult {
  const tokens: Token[] = [];
  const chars = [...input];
  let i = 0;
  while (i < chars.length) {
    while (i < chars.length && isSpace(chars[i] ?? '')) i += 1;
    if (i >= chars.length) break;
    let text = '';
    let quoted = false;
    let atWordStart = true;
    while (i < chars.length && !isSpace(chars[i] ?? '')) {
      const ch = chars[i] ?? '';
      const closers = QUOTES[ch];
      const mayOpen = atWordStart || (text.length > 0 && text.indexOf('=') === text.length - 1);
      if (closers !== undefined && mayOpen) {
        if (atWordStart) quoted = true;
        const start = i;
        i += 1;
        let closed = false;
        while (i < chars.length) {
          const inner = chars[i] ?? '';
          if (inner === '\\' && i + 1 < chars.length && (closers.includes(chars[i + 1] ?? '') || chars[i + 1] === '\\')) {
            text += chars[i + 1] ?? '';
            i += 2;
            continue;
          }
          if (closers.includes(inner)) {
            closed = true;
            i += 1;
            break;
          }
          text += inner;
          i += 1;
        }
        if (!closed) return { ok: false, error: `the quote ${ch} at character ${start + 1} is never closed` };
        atWordStart = false;
        continue;
      }
      text += ch;
      atWordStart = false;
      i += 1;
    }
    tokens.push({ text, quoted });
  }
  return { ok: true, tokens };
}

/** Undoes Slack's escaping of `&`, `<` and `>` in slash command text. */
export function unescapeSlackText(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** What a `/runbook …` asks for. */
export type ParsedCommand =
  | { readonly kind: 'open-modal' }
  | { readonly kind: 'list'; readonly tag?: string }
  | { readonly kind: 'help'; readonly runbook?: string }
  | { readonly kind: 'plan'; readonly runbook: string; readonly args: readonly Token[] }
  | { readonly kind: 'status'; readonly runId?: string }
  | { readonly kind: 'cancel'; readonly runId: string; readonly reason?: string }
  | { readonly kind: 'start'; readonly runbook: string; readonly args: readonly Token[] }
  | IncidentCommand
  | { readonly kind: 'invalid'; readonly message: string; readonly usage: string };

/** A `/runbook incident …` request. */
export type IncidentCommand =
  | { readonly kind: 'incident'; readonly action: 'declare'; readonly title: string; readonly severity?: Severity }
  | { readonly kind: 'incident'; readonly action: 'ack' }
  | { readonly kind: 'incident'; readonly action: 'mitigate' | 'resolve'; readonly text?: string }
  | { readonly kind: 'incident'; readonly action: 'status'; readonly incidentId?: string };

/** Longest incident title accepted (it names a Slack channel and heads the pinned summary). */
export const MAX_INCIDENT_TITLE_CHARS = 150;

/** The `incident` subcommands with their usage lines. */
export const INCIDENT_USAGE = {
  declare: '/runbook incident declare <title> [sev1|sev2|sev3]',
  ack: '/runbook incident ack',
  mitigate: '/runbook incident mitigate [reason…]',
  resolve: '/runbook incident resolve [resolution…]',
  status: '/runbook incident status [incident]',
} as const;

/** The built-in subcommands with their usage lines; a runbook cannot take these names. */
export const BUILTIN_USAGE = {
  list: '/runbook list [tag]',
  help: '/runbook help [runbook]',
  plan: '/runbook plan <runbook> [params…] [name=value…]',
  status: '/runbook status [run]',
  cancel: '/runbook cancel <run> [reason…]',
  incident: '/runbook incident declare <title> [sev1|sev2|sev3] | ack | mitigate | resolve [resolution…] | status',
} as const;

type Builtin = keyof typeof BUILTIN_USAGE;

const isBuiltin = (word: string): word is Builtin => Object.hasOwn(BUILTIN_USAGE, word);

/** Parses the text after `/runbook`. Never throws: a malformed request is `invalid`, with the usage to show. */
export function parseCommand(text: string): ParsedCommand {
  const split = tokenize(unescapeSlackText(text));
  if (!split.ok) return { kind: 'invalid', message: split.error, usage: '/runbook <runbook> [params…] [name=value…]' };
  const [first, ...rest] = split.tokens;
  if (!first) return { kind: 'open-modal' };
  const word = first.text.toLowerCase();
  if (first.quoted || !isBuiltin(word)) return { kind: 'start', runbook: first.text, args: rest };
  const usage = BUILTIN_USAGE[word];
  const tooMany = (max: number) => ({ kind: 'invalid' as const, message: `\`${word}\` takes at most ${max} argument${max === 1 ? '' : 's'}; got ${rest.length}`, usage });
  switch (word) {
    case 'list':
      if (rest.length > 1) return tooMany(1);
      return rest[0] ? { kind: 'list', tag: rest[0].text } : { kind: 'list' };
    case 'help':
      if (rest.length > 1) return tooMany(1);
      return rest[0] ? { kind: 'help', runbook: rest[0].text } : { kind: 'help' };
    case 'status':
      if (rest.length > 1) return tooMany(1);
      return rest[0] ? { kind: 'status', runId: rest[0].text } : { kind: 'status' };
    case 'plan': {
      const [runbook, ...args] = rest;
      if (!runbook) return { kind: 'invalid', message: '`plan` needs the runbook to plan', usage };
      return { kind: 'plan', runbook: runbook.text, args };
    }
    case 'cancel': {
      const [run, ...words] = rest;
      if (!run) return { kind: 'invalid', message: '`cancel` needs the id of the run to cancel', usage };
      const reason = words.map((w) => w.text).join(' ').trim();
      return { kind: 'cancel', runId: run.text, ...(reason ? { reason } : {}) };
    }
    case 'incident':
      return parseIncident(rest);
  }
}

const INCIDENT_ACTIONS: Readonly<Record<string, keyof typeof INCIDENT_USAGE>> = {
  declare: 'declare', ack: 'ack', acknowledge: 'ack', mitigate: 'mitigate', mitigating: 'mitigate', resolve: 'resolve', status: 'status',
};

const isSeverity = (token: Token | undefined): token is Token => token !== undefined && !token.quoted && (SEVERITIES as readonly string[]).includes(token.text.toLowerCase());
const joined = (tokens: readonly Token[]) => tokens.map((t) => t.text).join(' ').replace(/\s+/g, ' ').trim();

/** `incident <action> …`: the severity of `declare` may come first or last; the title is every other word. */
function parseIncident(rest: readonly Token[]): ParsedCommand {
  const [first, ...words] = rest;
  const action = first ? INCIDENT_ACTIONS[first.text.toLowerCase()] : undefined;
  if (!first || action === undefined) {
    const message = first ? `\`incident ${first.text}\` is not an incident command; use declare, ack, mitigate, resolve or status` : '`incident` needs what to do: declare, ack, mitigate, resolve or status';
    return { kind: 'invalid', message, usage: BUILTIN_USAGE.incident };
  }
  const usage = INCIDENT_USAGE[action];
  switch (action) {
    case 'declare': {
      const severityToken = isSeverity(words[words.length - 1]) ? words[words.length - 1] : isSeverity(words[0]) ? words[0] : undefined;
      const title = joined(words.filter((w) => w !== severityToken));
      if (!title) return { kind: 'invalid', message: '`incident declare` needs a title, e.g. `/runbook incident declare "Model latency high" sev2`', usage };
      if (title.length > MAX_INCIDENT_TITLE_CHARS) return { kind: 'invalid', message: `the incident title is ${title.length} characters long; at most ${MAX_INCIDENT_TITLE_CHARS} are allowed`, usage };
      const severity = severityToken ? (severityToken.text.toLowerCase() as Severity) : undefined;
      return { kind: 'incident', action, title, ...(severity ? { severity } : {}) };
    }
    case 'ack':
      if (words.length > 0) return { kind: 'invalid', message: `\`incident ack\` takes no arguments; got ${words.length}`, usage };
      return { kind: 'incident', action };
    case 'mitigate':
    case 'resolve': {
      const text = joined(words);
      return { kind: 'incident', action, ...(text ? { text } : {}) };
    }
    case 'status':
      if (words.length > 1) return { kind: 'invalid', message: `\`incident status\` takes at most 1 argument; got ${words.length}`, usage };
      return words[0] ? { kind: 'incident', action, incidentId: words[0].text } : { kind: 'incident', action };
  }
}

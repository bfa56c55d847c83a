/**
 * The source guard: decides whether a runbook's text may be handed to marked at all. marked is
 * recursive and some shapes cost it super-linear time, so hostile input (binary files, a 10 MB
 * file, 10,000-deep nesting) gets a diagnostic here, in one linear pass, instead of a crash or a hang.
 *
 * Measured with marked 18.2.1 on Node 20 (2-core machine), `new Lexer({ gfm: true }).lex(src)`:
 * - `>>>…> x` on one line: RangeError (stack overflow) at 2,000 markers; 500 took 85 ms.
 * - blockquote depth growing line by line (`>`, `>>`, …): 500 lines 0.3 s, 2,000 lines 15 s,
 *   10,000 lines ran out of a 4 GB heap.
 * - list nesting by indentation, two spaces a level: 500 levels 2 s, 2,000 levels > 20 s.
 * - `- - - … x` and `> - > - … x` on one line: RangeError at 2,000 markers.
 * - emphasis delimiters in one paragraph (`*a *a … b* b*`): 1,000 delimiters 120 ms, 4,000 RangeError;
 *   a run of 4,000 `*`: RangeError.
 * - nested brackets, links, images, `<div>` and backtick runs stayed linear up to 10,000.
 * The limits below sit far under those thresholds and far above any real runbook (the deepest
 * of the 142-file corpus nests 4 levels).
 */
import type { Diagnostic, SourceLocation } from './diagnostics.ts';

export const SOURCE_LIMITS = {
  /** Characters in a runbook: the biggest real one is ~60 KB; 1 M keeps a lex well under a second. */
  maxChars: 1_000_000,
  /** Block nesting (quotes and lists together), counted per line. */
  maxNestingDepth: 16,
  /** Columns of indentation before a list item (16 levels of 4-space indents is 64). */
  maxListIndent: 96,
  /** Emphasis and strikethrough delimiters (`*`, `_`, `~`) in one paragraph. */
  maxDelimitersPerParagraph: 1_000,
} as const;

export interface SourceCheckResult {
  /** The text as it will be lexed: BOM stripped, `\r\n` and `\r` turned into `\n`. */
  readonly text: string;
  readonly diagnostics: readonly Diagnostic[];
  /** false when the text must not be handed to marked. */
  readonly lexable: boolean;
}

/** Share of control or replacement characters above which a file is taken for binary. */
const MAX_BINARY_SHARE = 0.02;

export function checkSource(file: string, raw: string): SourceCheckResult {
  const at = (line: number, column: number): SourceLocation => ({ file, line, column });
  if (raw.length > SOURCE_LIMITS.maxChars) {
    // Checked before anything else touches the text: a 10 MB string is never split or scanned.
    return refuse(raw.slice(0, 0), {
      severity: 'error',
      code: 'too-large',
      message: `the file is too large to be a runbook (${raw.length.toLocaleString('en')} characters)`,
      location: at(1, 1),
      expected: `at most ${SOURCE_LIMITS.maxChars.toLocaleString('en')} characters`,
      found: `${raw.length.toLocaleString('en')} characters`,
    });
  }
  const text = raw.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const binary = findBinary(text);
  if (binary) {
    return refuse(text, {
      severity: 'error',
      code: 'not-text',
      message: 'the file does not look like a Markdown text file (it holds NUL, control or undecodable bytes)',
      location: at(binary.line, binary.column),
      expected: 'UTF-8 text',
      found: binary.found,
    });
  }
  if (text.trim() === '') {
    return refuse(text, { severity: 'error', code: 'empty-runbook', message: 'the file is empty: a runbook needs at least one `##` step', location: at(1, 1), expected: 'Markdown with `##` step headings', found: 'an empty file' });
  }
  const nesting = findExcessiveNesting(text);
  return nesting ? refuse(text, { ...nesting, location: at(nesting.line, nesting.column) }) : { text, diagnostics: [], lexable: true };
}

function refuse(text: string, diagnostic: Diagnostic): SourceCheckResult {
  return { text, diagnostics: [diagnostic], lexable: false };
}

function findBinary(text: string): { line: number; column: number; found: string } | undefined {
  let suspicious = 0;
  let first: { index: number; code: number } | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    const isControl = (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0c) || code === 0x7f;
    if (code === 0 || isControl || code === 0xfffd) {
      suspicious += 1;
      first ??= { index: i, code };
      if (code === 0) break;
    }
  }
  if (!first) return undefined;
  if (first.code !== 0 && suspicious / text.length <= MAX_BINARY_SHARE) return undefined;
  const before = text.slice(0, first.index);
  const line = before.split('\n').length;
  const column = first.index - before.lastIndexOf('\n');
  const found = first.code === 0 ? 'a NUL byte' : `${suspicious} control or undecodable characters`;
  return { line, column, found };
}

type NestingProblem = Omit<Diagnostic, 'location'> & { line: number; column: number };

/** One pass over the lines: quote and list depth, list indentation, emphasis delimiters per paragraph. */
function findExcessiveNesting(text: string): NestingProblem | undefined {
  let line = 0;
  let delimiters = 0;
  let paragraphStart = 1;
  let inFence = false;
  // Indentation of the list items enclosing the current line: its length is the list depth.
  const lists: number[] = [];
  for (let start = 0; start <= text.length; ) {
    const end = text.indexOf('\n', start);
    const content = text.slice(start, end === -1 ? text.length : end);
    line += 1;
    start = end === -1 ? text.length + 1 : end + 1;
    if (/^ {0,3}(`{3,}|~{3,})/.test(content)) inFence = !inFence;
    if (inFence) continue;
    const indent = /^[ \t]*/.exec(content)?.[0] ?? '';
    const width = [...indent].reduce((w, c) => w + (c === '\t' ? 4 : 1), 0);
    const isListItem = /^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/.test(content);
    if (content.trim() !== '') {
      while (lists.length > 0 && (lists.at(-1) ?? 0) >= width && (isListItem || width < (lists.at(-1) ?? 0))) lists.pop();
      if (isListItem) lists.push(width);
      else if (width === 0) lists.length = 0;
    }
    const depth = blockDepth(content);
    depth.count += Math.max(0, lists.length - 1);
    if (depth.count > SOURCE_LIMITS.maxNestingDepth) {
      return { severity: 'error', code: 'too-deeply-nested', message: 'quotes and lists are nested too deeply to read safely', line, column: depth.column, expected: `at most ${SOURCE_LIMITS.maxNestingDepth} levels`, found: `${depth.count} levels` };
    }
    if (width > SOURCE_LIMITS.maxListIndent && isListItem) {
      return { severity: 'error', code: 'too-deeply-nested', message: 'a list item is indented too deeply to read safely', line, column: width + 1, expected: `at most ${SOURCE_LIMITS.maxListIndent} columns of indentation`, found: `${width} columns` };
    }
    if (content.trim() === '') {
      delimiters = 0;
      paragraphStart = line + 1;
      continue;
    }
    for (let i = 0; i < content.length; i += 1) {
      const c = content.charCodeAt(i);
      if (c === 42 || c === 95 || c === 126) delimiters += 1; // * _ ~
    }
    if (delimiters > SOURCE_LIMITS.maxDelimitersPerParagraph) {
      return { severity: 'error', code: 'too-deeply-nested', message: `the paragraph starting on line ${paragraphStart} has too many emphasis markers (*, _, ~) to read safely`, line, column: 1, expected: `at most ${SOURCE_LIMITS.maxDelimitersPerParagraph} per paragraph`, found: `more than ${SOURCE_LIMITS.maxDelimitersPerParagraph}` };
    }
  }
  return undefined;
}

/** Leading `>` and list markers on a line (`> - > 1. x` is 4 levels). */
function blockDepth(content: string): { count: number; column: number } {
  const marker = /^[ \t]{0,3}(?:>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))[ \t]?/;
  let rest = content;
  let count = 0;
  let column = 1;
  for (;;) {
    const match = marker.exec(rest);
    if (!match || match[0].length === 0) break;
    count += 1;
    column += match[0].length;
    rest = rest.slice(match[0].length);
    if (count > SOURCE_LIMITS.maxNestingDepth) break;
  }
  return { count, column };
}

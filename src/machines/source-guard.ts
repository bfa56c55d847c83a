/**
 * Source guard: decides, before marked sees a runbook, whether its lexer will finish on the text in
 * bounded time and stack (DESIGN.md §3 "Bad input"). Linear time; the text is never split.
 *
 * Measured with marked 18.2.1 (`marked.lexer`), Node 20.20, 2 cores, a fresh process per input
 * (cold code has the biggest frames); "/ n" is the same with 1,000 frames already on the stack.
 * Deepest input that lexes before a RangeError (stack overflow):
 *   `>>>…> x`                                  1,734 / 1,543 quotes
 *   `- - … x`, `1. 1. … x`                     1,134 / 1,009 lists
 *   `> - > - … x`                              685 / 610 quote+list pairs
 *   lists indented 2 more per line             1,183, then > 20 s (1 MB of indentation)
 *   `>`, `>>`, `>>>`, … a line each             2,339, then the 4 GB heap runs out
 *   `*a *a … x … a* a*`                        1,240 / 1,095 nested (`_`, `**`, `~`: 1,090–1,310)
 *   `**…*x*…**`                                1,964 / 1,748 `*` a side
 *   `[[[x]]]`, `![![`, `[x](((u)))`, `<div>`s  fine at 262,144 (marked does not nest them)
 *   `> a` lines, not nested                    ~1,000,000 lines overflow a regex's stack
 * Super-linear time (found by hand and by sweeping 18,500 short inline and 5,100 line patterns):
 *   `a\n-|-\n` (table head retried per line)  50 KB 7.9 s     ∝ lines² of a block
 *   `- item` + lazy lines                      50 KB 1.5 s, 200 KB 25 s
 *   `a\n-\n` (setext)                          100 KB 5.1 s
 *   `> - a\nb\n` (quote, lazy lines)           80 KB 4.7 s
 *   `- a` + (`  b`, blank, `  c`, `lazy`)       250 KB 2.2 s, 1 MB 41 s   ∝ list item², across blank lines
 *   `_a#`, `*a>`, `~]*` (unmatched emphasis)   8 KB 4–6.4 s     ∝ runs² in a paragraph
 *   `*a**b `, `a*_` (rule of 3)                20 KB 1.0 s / 4.4 s
 *   256 nested `*` around 1 MB                 3.8 s            ∝ depth × paragraph length
 *   words `a_a_…`, `a!a!…`                      80 KB 6.3 s / 2.7 s   ∝ punctuation × word length
 *   `http://a.b/` + 80,000 `?` (URL backpedal) 6.7 s
 * Linear shapes lex at 10–40 ms/MB (long lines, prose, unclosed fences, NULs) up to ~1 s/MB.
 *
 * So capping size and nesting is not enough: the guard also estimates the super-linear cost from
 * block, paragraph, list and word shapes (COST_WEIGHTS, calibrated on the shapes above) and
 * refuses text over budget. Checked afterwards: each shape at the largest size the guard accepts
 * lexes in ≤ 1.0 s (41 shapes), the slowest accepted 1 MiB texts (`[`×1M, `[a](b) `×150k, a
 * realistic runbook) in 1.0–1.4 s, and the guard itself takes ≤ 110 ms on 1 MiB (a 10 MB text:
 * O(1)). The deepest accepted text (32 lists around 256 nested emphasis levels) still lexes with
 * `--stack-size=400` and 1,000 caller frames; Node's default stack is ~984 KB. Of 728 real
 * Markdown files (the 142-runbook corpus, every README in node_modules) the costliest estimates
 * 4% of the budget, and only the empty ones get a diagnostic.
 */
import type { Diagnostic, SourceLocation } from './diagnostics.ts';

/**
 * Limits on what is handed to marked; every one is far above what a real runbook needs. There is
 * no line length limit: a single 1 MB line lexes in 40 ms (long words full of punctuation are slow,
 * and the cost estimate covers them).
 */
export const SOURCE_LIMITS = {
  /**
   * Maximum size in characters (UTF-16 code units, i.e. JS string length; never more than the
   * file's UTF-8 byte count). 1 MiB: linear shapes lex in ≤ 1.4 s at this size; runbooks are ~10 KB.
   */
  maxBytes: 1_048_576,
  /**
   * Maximum number of lines. marked spends 5–20 µs a line on token-dense text (loose lists, many
   * headings), and a regex overflows its stack near 1,000,000 quoted lines; 50,000 keeps both low.
   */
  maxLines: 50_000,
  /**
   * Maximum nesting of block quotes and lists, counted as `>` and list markers at the start of a
   * line plus one level per two columns of indentation before them. Lists overflow the stack at
   * 1,009 levels (worst measured); 32 is a 30× margin and more than any document uses.
   */
  maxNestingDepth: 32,
  /**
   * Maximum emphasis markers (`*`, `~`, and `_` not between two letters or digits) in one
   * paragraph. Each nested emphasis level needs at least two, and 1,090 levels overflow the stack,
   * so 512 markers (≤ 256 levels) keeps a 4× margin.
   */
  maxEmphasisMarkers: 512,
  /**
   * Budget for the estimated worst-case lexing cost, in microseconds on the machine measured
   * above (COST_WEIGHTS). Real Markdown files estimate at most 4% of it, runbooks 1.2%.
   */
  maxLexCost: 1_000_000,
} as const;

/**
 * Divisors that turn shape counts into estimated microseconds; each is the worst rate measured for
 * its mechanism, rounded to the safe side.
 */
const COST_WEIGHTS = {
  /** Block (lines between blank lines): lines² / 32 (table head retried per line, 3.5e7 lines²/s). */
  blockLinesSquared: 32,
  /** Block: characters × lines / 128 (lazy list lines rescan the paragraph, 1.8e8 per s). */
  blockCharsTimesLines: 128,
  /** Paragraph: each pair of runs of one emphasis character costs ~1 µs (`_a#`: 1.1e6 pairs/s). */
  emphasisRunPairs: 1,
  /**
   * Paragraph: markers × (characters + 640) / 128: nested emphasis re-lexes its content (1.3e8 per
   * s) and each level costs ~5 µs more (`*`×250 around a letter).
   */
  emphasisTimesChars: 128,
  emphasisMarkerChars: 640,
  /** Line: 16 µs per block quote or list level it may sit in (each level re-reads it, ≤ 12 µs). */
  nestedLine: 16,
  /** List item: characters so far / 1024 for each line that may be lazy (string flattened, 1e9/s). */
  listItemChars: 1024,
  /** Word: punctuation × word length / 128 (`a_`: 1.6e8 per s; URL backpedal: 1e9 per s). */
  wordPunctuationTimesLength: 128,
} as const;

export interface SourceCheckResult {
  /**
   * The text normalised as marked would: BOM stripped, `\r\n` and `\r` turned into `\n`. Line and
   * column numbers of every diagnostic refer to it. When the input is too large it is returned
   * unchanged, because it must not be used.
   */
  readonly text: string;
  readonly diagnostics: readonly Diagnostic[];
  /** false when the text must not be handed to marked (too large, binary, too nested or slow). */
  readonly lexable: boolean;
}

/**
 * Checks a runbook's text before it is lexed: size, binary content, emptiness, nesting depth and
 * estimated lexing cost. An empty file is reported but still lexable (marked handles it).
 */
export function checkSource(file: string, text: string): SourceCheckResult {
  if (text.length > SOURCE_LIMITS.maxBytes) {
    const found = `${formatCount(text.length)} characters`;
    const expected = `at most ${formatCount(SOURCE_LIMITS.maxBytes)} characters`;
    const message = 'the file is too large to be a runbook';
    return { text, diagnostics: [error('too-large', message, at(file, 1, 1), expected, found)], lexable: false };
  }
  const normalised = normaliseSource(text);
  const notText = findBinaryContent(file, normalised);
  if (notText !== undefined) return { text: normalised, diagnostics: [notText], lexable: false };
  if (/^\s*$/.test(normalised)) {
    const found = normalised.length === 0 ? 'an empty file' : 'only whitespace';
    const message = 'the file is empty: a runbook needs at least one `##` step';
    const diagnostic = error('empty-runbook', message, at(file, 1, 1), 'at least one `##` step', found);
    return { text: normalised, diagnostics: [diagnostic], lexable: true };
  }
  const diagnostics = scanStructure(file, normalised);
  return { text: normalised, diagnostics, lexable: diagnostics.length === 0 };
}

/** Strips a byte order mark and turns `\r\n` and lone `\r` into `\n`, as marked's lexer does. */
function normaliseSource(text: string): string {
  const withoutBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return withoutBom.includes('\r') ? withoutBom.replace(/\r\n?/g, '\n') : withoutBom;
}

/** Share of control or replacement characters above which the file is taken for binary. */
const MAX_SUSPICIOUS_SHARE = 0.1;

/** NUL anywhere, or more than 10% U+FFFD (invalid UTF-8) and C0/DEL controls other than \t \n \f. */
function findBinaryContent(file: string, text: string): Diagnostic | undefined {
  let suspicious = 0;
  let first = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return notTextDiagnostic(file, text, i, 'a NUL character (U+0000)');
    if (isSuspicious(c)) {
      suspicious++;
      if (first < 0) first = i;
    }
  }
  if (first < 0 || suspicious <= text.length * MAX_SUSPICIOUS_SHARE) return undefined;
  const share = Math.round((suspicious / text.length) * 100);
  const found = `${formatCount(suspicious)} control or invalid UTF-8 characters (${share}% of the file)`;
  return notTextDiagnostic(file, text, first, found);
}

function isSuspicious(c: number): boolean {
  if (c === 0xfffd || c === 0x7f) return true;
  return c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d;
}

function notTextDiagnostic(file: string, text: string, index: number, found: string): Diagnostic {
  const message = 'the file does not look like a Markdown text file';
  return error('not-text', message, locate(file, text, index), 'UTF-8 Markdown text', found);
}

/** Where a run of lines (a block, a paragraph, a list) starts, and its characters so far. */
interface Span {
  startLine: number;
  chars: number;
}

/** What drives an estimated cost, for telling the author what to change. */
const COST_CAUSES = {
  lines: 'many lines without a blank line between them',
  emphasis: 'many emphasis markers (`*`, `_`, `~`) in one paragraph',
  list: 'list items with many lines that may continue lazily',
  nesting: 'many lines inside nested block quotes or lists',
  words: 'long words full of punctuation',
} as const;

type CostCause = keyof typeof COST_CAUSES;

interface ScanState {
  readonly file: string;
  readonly text: string;
  readonly diagnostics: Diagnostic[];
  line: number;
  previousBlank: boolean;
  /** Block quote and list levels the previous line may sit in (0 after a blank line). */
  previousDepth: number;
  /** Lines between blank lines, where marked's block rules stop; costs are attributed to it. */
  block: (Span & { lines: number; costs: Record<CostCause, number> }) | undefined;
  /** Lines sharing one inline context (paragraph): blank lines, list items and headings end it. */
  paragraph: (Span & { markers: number; runs: Map<number, number> }) | undefined;
  /** From a list marker to the first unindented line after a blank line: one list's items. */
  list: (Span & { depth: number }) | undefined;
  cost: number;
  /** The block with the largest estimated cost. */
  worst: { cost: number; line: number; cause: CostCause };
  nestingReported: boolean;
  emphasisReported: boolean;
}

/** Walks the text line by line (no split: O(n) time, O(1) extra memory besides diagnostics). */
function scanStructure(file: string, text: string): Diagnostic[] {
  const state: ScanState = {
    file, text, diagnostics: [], line: 0, previousBlank: true, previousDepth: 0, block: undefined, paragraph: undefined,
    list: undefined, cost: 0, worst: { cost: 0, line: 1, cause: 'lines' }, nestingReported: false, emphasisReported: false,
  };
  for (let start = 0; ; ) {
    const newline = text.indexOf('\n', start);
    state.line++;
    scanLine(state, start, newline < 0 ? text.length : newline);
    if (newline < 0) break;
    start = newline + 1;
  }
  closeParagraph(state);
  closeBlock(state);
  const lines = text.endsWith('\n') ? state.line - 1 : state.line;
  if (lines > SOURCE_LIMITS.maxLines) {
    const expected = `at most ${formatCount(SOURCE_LIMITS.maxLines)} lines`;
    state.diagnostics.unshift(error('too-large', 'the file has too many lines to be a runbook', at(file, 1, 1), expected, `${formatCount(lines)} lines`));
  }
  // Only when nothing else stops the lexer: deep nesting or too many lines inflate the estimate.
  if (state.diagnostics.length === 0 && state.cost > SOURCE_LIMITS.maxLexCost) state.diagnostics.push(tooComplex(state));
  return state.diagnostics;
}

function scanLine(state: ScanState, start: number, end: number): void {
  const { text } = state;
  if (isBlankLine(text, start, end)) {
    closeParagraph(state);
    closeBlock(state);
    state.previousBlank = true;
    state.previousDepth = 0;
    return;
  }
  const nesting = measureNesting(text, start, end);
  if (nesting.depth > SOURCE_LIMITS.maxNestingDepth && !state.nestingReported) {
    state.nestingReported = true;
    const expected = `at most ${SOURCE_LIMITS.maxNestingDepth} levels of block quotes and lists`;
    const where = at(state.file, state.line, nesting.overAt - start + 1);
    state.diagnostics.push(error('too-deeply-nested', 'block quotes and lists are nested too deeply for the Markdown lexer', where, expected, `${formatCount(nesting.depth)} levels`));
  }
  if (startsInlineContext(text, start, end)) closeParagraph(state);
  const chars = end - start + 1;
  state.block ??= { startLine: state.line, lines: 0, chars: 0, costs: { lines: 0, emphasis: 0, list: 0, nesting: 0, words: 0 } };
  state.block.lines++;
  state.block.chars += chars;
  state.paragraph ??= { startLine: state.line, chars: 0, markers: 0, runs: new Map() };
  state.paragraph.chars += chars;
  trackList(state, start, end, nesting.depth);
  chargeNestedLine(state, nesting);
  scanInline(state, start, end);
  state.previousBlank = false;
}

/**
 * Charges marked's list-item scan: each line that may be a lazy continuation line makes marked
 * flatten the item text read so far, at every list level. A list ends at an unindented line after
 * a blank line (it cannot be a continuation of any item); until then it spans blank lines.
 */
function trackList(state: ScanState, start: number, end: number, depth: number): void {
  const c = state.text.charCodeAt(start);
  if (state.previousBlank && c !== SPACE && c !== TAB) state.list = undefined;
  if (state.list === undefined && depth === 0) return;
  if (state.list !== undefined && !state.previousBlank) {
    addCost(state, 'list', (state.list.chars * Math.max(1, state.list.depth)) / COST_WEIGHTS.listItemChars);
  }
  state.list ??= { startLine: state.line, chars: 0, depth: 0 };
  state.list.chars += end - start + 1;
  state.list.depth = Math.max(state.list.depth, depth);
}

/**
 * Charges the line once per level that may enclose it, since each level re-reads it: the levels it
 * opens, the list levels its indentation may continue, or, after a non-blank line, the levels of
 * that line (a lazy continuation line stays in its paragraph's block quotes and lists).
 */
function chargeNestedLine(state: ScanState, nesting: Nesting): void {
  const listLevels = Math.min(nesting.indentLevels, state.list?.depth ?? 0);
  const inherited = state.previousBlank ? 0 : state.previousDepth;
  const depth = Math.max(nesting.depth, listLevels, inherited);
  state.previousDepth = depth;
  addCost(state, 'nesting', depth * COST_WEIGHTS.nestedLine);
}

function closeBlock(state: ScanState): void {
  const block = state.block;
  if (block === undefined) return;
  const { lines, chars } = block;
  addCost(state, 'lines', (lines * lines) / COST_WEIGHTS.blockLinesSquared + (chars * lines) / COST_WEIGHTS.blockCharsTimesLines);
  state.block = undefined;
  const causes = Object.entries(block.costs) as [CostCause, number][];
  const total = causes.reduce((sum, [, cost]) => sum + cost, 0);
  if (total <= state.worst.cost) return;
  const [cause] = causes.reduce((max, entry) => (entry[1] > max[1] ? entry : max));
  state.worst = { cost: total, line: block.startLine, cause };
}

function closeParagraph(state: ScanState): void {
  const paragraph = state.paragraph;
  if (paragraph === undefined) return;
  state.paragraph = undefined;
  let pairs = 0;
  for (const runs of paragraph.runs.values()) pairs += runs * runs;
  const markersCost = (paragraph.markers * (paragraph.chars + COST_WEIGHTS.emphasisMarkerChars)) / COST_WEIGHTS.emphasisTimesChars;
  addCost(state, 'emphasis', pairs / COST_WEIGHTS.emphasisRunPairs + markersCost);
}

/** Adds to the estimate and to the open block's share of it (there is one whenever text is read). */
function addCost(state: ScanState, cause: CostCause, cost: number): void {
  state.cost += cost;
  if (state.block !== undefined) state.block.costs[cause] += cost;
}

function tooComplex(state: ScanState): Diagnostic {
  const { worst } = state;
  const message = 'the Markdown lexer would take too long on this file: add blank lines between long stretches of text, and avoid long runs of `*`, `_`, `~` or punctuation';
  const expected = `an estimated lexing cost of at most ${formatCount(SOURCE_LIMITS.maxLexCost)}`;
  const found = `${formatCount(Math.round(state.cost))}, the most (${formatCount(Math.round(worst.cost))}) from ${COST_CAUSES[worst.cause]} at line ${worst.line}`;
  return error('too-complex', message, at(state.file, worst.line, 1), expected, found);
}

const SPACE = 0x20;
const TAB = 0x09;
const GREATER = 0x3e;
const STAR = 0x2a;
const UNDERSCORE = 0x5f;
const TILDE = 0x7e;

/** Only spaces (or nothing): marked's blank line. A tab-only line is not blank for its table rule. */
function isBlankLine(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) !== SPACE) return false;
  return true;
}

interface Nesting {
  /** Levels open at this line if it opens a block quote or list item, else 0. */
  readonly depth: number;
  /** Index of the marker that went over the limit, or -1. */
  readonly overAt: number;
  /** Levels the line's leading indentation could sit in (two columns a level). */
  readonly indentLevels: number;
}

/**
 * Upper bound of the block quotes and lists open at a line that opens one: every `>` and list
 * marker in the line's prefix, plus one level per two columns of indentation before the last
 * marker (an enclosing list item indents its content by two columns or more). The space that ends
 * a marker is part of it. Tabs count four columns. Lines without a marker open nothing: 0.
 */
function measureNesting(text: string, start: number, end: number): Nesting {
  let markers = 0;
  let indent = 0;
  let leadingIndent = -1;
  let depth = 0;
  let overAt = -1;
  let afterMarker = false;
  let i = start;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      if (!afterMarker) indent += c === TAB ? 4 : 1;
      afterMarker = false;
      i++;
      continue;
    }
    if (leadingIndent < 0) leadingIndent = indent;
    const width = markerWidth(text, i, end);
    if (width === 0) break;
    markers++;
    depth = markers + Math.floor(indent / 2);
    if (depth > SOURCE_LIMITS.maxNestingDepth && overAt < 0) overAt = i;
    afterMarker = true;
    i += width;
  }
  return { depth, overAt, indentLevels: Math.floor(Math.max(leadingIndent, 0) / 2) };
}

/** Width of a `>` or list marker (`-`, `+`, `*`, `1.`, `1)` followed by a blank) at i, else 0. */
function markerWidth(text: string, i: number, end: number): number {
  const c = text.charCodeAt(i);
  if (c === GREATER) return 1;
  if (c === 0x2d || c === 0x2b || c === STAR) return isBlankAt(text, i + 1, end) ? 1 : 0;
  let j = i;
  while (j < end && j - i < 10 && isDigit(text.charCodeAt(j))) j++;
  const digits = j - i;
  if (digits === 0 || digits > 9) return 0;
  const d = text.charCodeAt(j);
  return (d === 0x2e || d === 0x29) && isBlankAt(text, j + 1, end) ? digits + 1 : 0;
}

function isBlankAt(text: string, i: number, end: number): boolean {
  if (i >= end) return true;
  const c = text.charCodeAt(i);
  return c === SPACE || c === TAB;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Whether marked certainly starts a new inline context at this line: after any `>` markers, at
 * most three spaces and then a bullet or `1.` / `1)` followed by a space (a list item interrupts a
 * paragraph) or an ATX heading. Anything less certain keeps the paragraph going, which only
 * overestimates.
 */
function startsInlineContext(text: string, start: number, end: number): boolean {
  let i = start;
  for (;;) {
    let j = i;
    while (j < end && j - i < 4 && text.charCodeAt(j) === SPACE) j++;
    if (j - i > 3 || text.charCodeAt(j) !== GREATER) break;
    // A tab after `>` is partly content indentation in marked: too uncertain to split on.
    if (text.charCodeAt(j + 1) === TAB) return false;
    i = text.charCodeAt(j + 1) === SPACE ? j + 2 : j + 1;
  }
  let spaces = 0;
  while (i < end && text.charCodeAt(i) === SPACE) {
    if (++spaces > 3) return false;
    i++;
  }
  const c = text.charCodeAt(i);
  if (c === 0x2d || c === 0x2b || c === STAR) return text.charCodeAt(i + 1) === SPACE;
  if (c === 0x31) {
    const d = text.charCodeAt(i + 1);
    return (d === 0x2e || d === 0x29) && text.charCodeAt(i + 2) === SPACE;
  }
  let hashes = 0;
  while (text.charCodeAt(i + hashes) === 0x23) hashes++;
  return hashes >= 1 && hashes <= 6 && (i + hashes >= end || isBlankAt(text, i + hashes, end));
}

/** Characters that end one of marked's inline text tokens inside a word, or that a URL sheds. */
const WORD_PUNCTUATION = new Set([...'!`*_~?.,:;\'")'].map((c) => c.charCodeAt(0)));

/** Counts emphasis runs and markers for the paragraph, and charges punctuation-heavy words. */
function scanInline(state: ScanState, start: number, end: number): void {
  const { text } = state;
  let wordStart = -1;
  let punctuation = 0;
  let i = start;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      if (wordStart >= 0) chargeWord(state, i - wordStart, punctuation);
      wordStart = -1;
      punctuation = 0;
      i++;
      continue;
    }
    if (wordStart < 0) wordStart = i;
    if (c === STAR || c === UNDERSCORE || c === TILDE) {
      let j = i + 1;
      while (j < end && text.charCodeAt(j) === c) j++;
      recordRun(state, c, i, j, start, end);
      punctuation += j - i;
      i = j;
      continue;
    }
    if (WORD_PUNCTUATION.has(c)) punctuation++;
    i++;
  }
  if (wordStart >= 0) chargeWord(state, end - wordStart, punctuation);
}

function chargeWord(state: ScanState, length: number, punctuation: number): void {
  if (punctuation > 0) addCost(state, 'words', (punctuation * length) / COST_WEIGHTS.wordPunctuationTimesLength);
}

/**
 * One run of `*`, `_` or `~` from i to j. A `_` run between two ASCII letters or digits can
 * neither open nor close emphasis in marked, so it is neither a marker nor a run; every other run
 * is (non-ASCII neighbours are treated as punctuation, which only overestimates).
 */
function recordRun(state: ScanState, c: number, i: number, j: number, lineStart: number, lineEnd: number): void {
  const { text, paragraph } = state;
  if (paragraph === undefined) return;
  if (c === UNDERSCORE && i > lineStart && j < lineEnd && isAsciiAlphanumeric(text.charCodeAt(i - 1)) && isAsciiAlphanumeric(text.charCodeAt(j))) return;
  paragraph.runs.set(c, (paragraph.runs.get(c) ?? 0) + 1);
  const before = paragraph.markers;
  paragraph.markers += j - i;
  const max = SOURCE_LIMITS.maxEmphasisMarkers;
  if (before <= max && paragraph.markers > max && !state.emphasisReported) {
    state.emphasisReported = true;
    const where = at(state.file, state.line, i + (max - before) - lineStart + 1);
    const message = 'too many emphasis markers (`*`, `_`, `~`) in one paragraph: marked could nest them deeper than its stack allows';
    state.diagnostics.push(error('too-deeply-nested', message, where, `at most ${max} in one paragraph (separate paragraphs with blank lines)`, `more than ${max}, from line ${paragraph.startLine}`));
  }
}

function isAsciiAlphanumeric(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function locate(file: string, text: string, index: number): SourceLocation {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return at(file, line, index - lineStart + 1);
}

function at(file: string, line: number, column: number): SourceLocation {
  return { file, line, column };
}

function error(code: string, message: string, location: SourceLocation, expected: string, found: string): Diagnostic {
  return { severity: 'error', code, message, location, expected, found };
}

/** 1048576 → "1,048,576" (locale-independent). */
function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

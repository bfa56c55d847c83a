/**
 * The runbook template language, part one: syntax. Turns `"Roll {{ params.model }} back?"` and
 * `when` conditions into a plain-JSON AST. The language is closed on purpose (references, literals,
 * comparisons, and/or/not, six filters): no arithmetic, no calls, nothing reaches JavaScript, so a
 * runbook author cannot run code in the engine (DESIGN.md §3 "Templates"). Every input, however
 * malformed or large, ends in a `TemplateSyntaxError` with an offset, never a crash or a hang.
 * Evaluation lives in `template.ts`, which re-exports everything here.
 */
import { describeFound } from './diagnostics.ts';

/** The roots a reference may start with: the data a run has. `env` is deliberately absent. */
export const TEMPLATE_ROOTS = ['params', 'steps', 'run', 'incident', 'partition'] as const;
/** The closed set of filters; an unknown name is a syntax error so typos fail at `runbook lint`. */
export const TEMPLATE_FILTERS = ['default', 'json', 'lower', 'upper', 'trim', 'length'] as const;
/** Input limits: beyond them parsing stops with a syntax error instead of exhausting the stack. */
export const TEMPLATE_LIMITS = { maxTextLength: 10_000, maxDepth: 32, maxSegments: 100 } as const;

export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];
export type FilterName = (typeof TEMPLATE_FILTERS)[number];
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type Literal = string | number | boolean | null;

/** One `| name` application; `arg` is set for `default` only. */
export interface FilterCall {
  readonly name: FilterName;
  readonly arg?: Literal;
  readonly offset: number;
}

/**
 * The AST: plain JSON data (it can be stored, compared and printed). `offset` is the character
 * offset in the source text, so diagnostics can point at `file:line:col`. `and`/`or` are n-ary and
 * filters are a list, so tree depth is bounded by parentheses and `not`, both capped at parse time.
 */
export type Expr =
  | { readonly kind: 'literal'; readonly value: Literal; readonly offset: number }
  | { readonly kind: 'ref'; readonly path: readonly string[]; readonly offset: number }
  | { readonly kind: 'not'; readonly operand: Expr; readonly offset: number }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly Expr[]; readonly offset: number }
  | { readonly kind: 'compare'; readonly op: CompareOp; readonly left: Expr; readonly right: Expr; readonly offset: number }
  | { readonly kind: 'pipe'; readonly input: Expr; readonly filters: readonly FilterCall[]; readonly offset: number };

/** A reference found in a template, for `runbook lint` (undefined param or step reference). */
export interface TemplateRef {
  readonly path: readonly string[];
  /** Character offset in the template text where the reference starts. */
  readonly offset: number;
}

/** A parsed template string. Shared through a cache, so it is frozen. */
export interface ParsedTemplate {
  readonly source: string;
  readonly parts: readonly (string | { readonly expr: Expr; readonly offset: number; /** Offset just past the closing `}}`. */ readonly end: number })[];
  /** true when the whole string is exactly one {{ expr }} (surrounding whitespace allowed): rendering then keeps the value's type */
  readonly isSingleExpression: boolean;
}

/**
 * A template that cannot be parsed. Found while linting, so never retryable; `offset` is where in
 * the template text, `expected`/`found` say what would have been accepted and what was there.
 */
export class TemplateSyntaxError extends Error {
  readonly code = 'template_syntax';
  readonly retryable = false;
  readonly offset: number;
  readonly expected?: string;
  readonly found?: string;

  constructor(problem: string, where: { offset: number; expected?: string; found?: string }) {
    const details = [where.expected && `expected ${where.expected}`, where.found && `found ${where.found}`];
    const tail = details.filter(Boolean).join('; ');
    super(`${problem} at offset ${where.offset}${tail ? ` (${tail})` : ''}`);
    this.name = 'TemplateSyntaxError';
    this.offset = where.offset;
    this.expected = where.expected;
    this.found = where.found;
  }
}

const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const ROOTS: ReadonlySet<string> = new Set(TEMPLATE_ROOTS);
const FILTERS: ReadonlySet<string> = new Set(TEMPLATE_FILTERS);

/** True when a path segment would reach an object's prototype machinery; refused everywhere. */
export function isForbiddenSegment(segment: string): boolean {
  return FORBIDDEN_SEGMENTS.has(segment);
}

// ---------------------------------------------------------------------------------------------
// Lexer

type TokenType = 'ident' | 'number' | 'string' | 'op' | 'end';
interface Token {
  readonly type: TokenType;
  readonly text: string;
  readonly value: Literal;
  readonly offset: number;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_-]*/y;
const NUMBER = /-?\d+(?:\.\d+)?/y;
const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', '.', '|', ':'];
const ESCAPES: ReadonlyMap<string, string> = new Map([
  ['n', '\n'], ['t', '\t'], ['r', '\r'], ['\\', '\\'], ["'", "'"], ['"', '"'],
]);

function readString(text: string, start: number, end: number): { value: string; next: number } {
  const quote = text.charAt(start);
  let value = '';
  for (let i = start + 1; i < end; i++) {
    const c = text.charAt(i);
    if (c === quote) return { value, next: i + 1 };
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = text.charAt(++i);
    const hex = text.slice(i + 1, i + 5);
    if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(hex)) {
      value += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else if (ESCAPES.has(e)) value += ESCAPES.get(e);
    else throw new TemplateSyntaxError('Unknown escape in string literal', {
      offset: i - 1, expected: "one of \\n \\t \\r \\\\ \\' \\\" \\uXXXX", found: describeFound(`\\${e}`),
    });
  }
  throw new TemplateSyntaxError('Unterminated string literal', { offset: start, expected: `a closing ${quote}`, found: 'end of expression' });
}

function badCharacter(c: string, offset: number): TemplateSyntaxError {
  const hint = '+-*/%'.includes(c) ? ': templates have no arithmetic'
    : c === '=' ? ": use '==' to compare"
      : c === ',' || c === ';' ? ': templates have no calls or statements' : '';
  return new TemplateSyntaxError(`Unexpected character${hint}`, {
    offset, expected: 'a reference, literal, operator or filter', found: describeFound(c),
  });
}

function tokenize(text: string, start: number, end: number): Token[] {
  const tokens: Token[] = [];
  const sticky = (re: RegExp, at: number): string | undefined => {
    re.lastIndex = at;
    const m = re.exec(text);
    return m && at + m[0].length <= end ? m[0] : undefined;
  };
  let i = start;
  while (i < end) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      const { value, next } = readString(text, i, end);
      tokens.push({ type: 'string', text: text.slice(i, next), value, offset: i });
      i = next;
    } else if ((sticky(NUMBER, i) ?? sticky(IDENT, i)) !== undefined) {
      const isNumber = c === '-' || (c >= '0' && c <= '9');
      const raw = (isNumber ? sticky(NUMBER, i) : sticky(IDENT, i)) ?? '';
      tokens.push({ type: isNumber ? 'number' : 'ident', text: raw, value: isNumber ? Number(raw) : raw, offset: i });
      i += raw.length;
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i) && i + o.length <= end);
      if (op === undefined) throw badCharacter(c, i);
      tokens.push({ type: 'op', text: op, value: op, offset: i });
      i += op.length;
    }
  }
  tokens.push({ type: 'end', text: '', value: null, offset: end });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser: or → and → not → compare → pipe → primary. Filters bind tightest, so
// `steps.a.output.items | length > 0` reads as `(items | length) > 0`.

const COMPARE_OPS: ReadonlySet<string> = new Set(['==', '!=', '<', '<=', '>', '>=']);
const LITERAL_EXPECTATION = "a literal ('text', \"text\", 42, -1.5, true, false or null)";

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly tokens: readonly Token[], private readonly endLabel: string) {}

  parseWhole(): Expr {
    const expr = this.parseOr();
    const t = this.peek();
    if (t.type !== 'end') {
      const problem = t.text === '(' ? 'Function calls are not allowed in templates' : 'Unexpected token after expression';
      throw this.fail(problem, t, `an operator, '|' filter or ${this.endLabel}`);
    }
    return expr;
  }

  private peek(): Token {
    return this.tokens[this.pos] ?? this.tokens[this.tokens.length - 1] ?? { type: 'end', text: '', value: null, offset: 0 };
  }
  private next(): Token {
    const t = this.peek();
    if (t.type !== 'end') this.pos++;
    return t;
  }
  private isOp(...ops: string[]): boolean {
    const t = this.peek();
    return t.type === 'op' && ops.includes(t.text);
  }
  private isWord(word: string): boolean {
    const t = this.peek();
    return t.type === 'ident' && t.text === word;
  }
  private describe(t: Token): string {
    return t.type === 'end' ? this.endLabel : describeFound(t.text);
  }
  private fail(problem: string, t: Token, expected: string): TemplateSyntaxError {
    return new TemplateSyntaxError(problem, { offset: t.offset, expected, found: this.describe(t) });
  }
  private expectOp(op: string, expected: string): Token {
    if (!this.isOp(op)) throw this.fail(`Expected '${op}'`, this.peek(), expected);
    return this.next();
  }
  /** Guards recursion so 10,000 nested parentheses end in a syntax error, not a RangeError. */
  private enter(t: Token): void {
    if (++this.depth > TEMPLATE_LIMITS.maxDepth) {
      throw this.fail('Expression is nested too deeply', t, `at most ${TEMPLATE_LIMITS.maxDepth} levels of parentheses and not`);
    }
  }

  private parseOr(): Expr {
    return this.parseChain('or', '||', () => this.parseAnd());
  }
  private parseAnd(): Expr {
    return this.parseChain('and', '&&', () => this.parseNot());
  }
  private parseChain(kind: 'and' | 'or', symbol: string, operand: () => Expr): Expr {
    const first = operand();
    const operands = [first];
    while (this.isWord(kind) || this.isOp(symbol)) {
      this.next();
      operands.push(operand());
    }
    return operands.length === 1 ? first : Object.freeze({ kind, operands: Object.freeze(operands), offset: first.offset });
  }

  private parseNot(): Expr {
    if (!this.isWord('not') && !this.isOp('!')) return this.parseCompare();
    const t = this.next();
    this.enter(t);
    const operand = this.parseNot();
    this.depth--;
    return Object.freeze({ kind: 'not', operand, offset: t.offset });
  }

  private parseCompare(): Expr {
    const left = this.parsePipe();
    const t = this.peek();
    if (t.type !== 'op' || !COMPARE_OPS.has(t.text)) return left;
    this.next();
    const right = this.parsePipe();
    const after = this.peek();
    if (after.type === 'op' && COMPARE_OPS.has(after.text)) {
      throw this.fail('Comparisons cannot be chained', after, "'and' between two comparisons");
    }
    return Object.freeze({ kind: 'compare', op: t.text as CompareOp, left, right, offset: left.offset });
  }

  private parsePipe(): Expr {
    const input = this.parsePrimary();
    const filters: FilterCall[] = [];
    while (this.isOp('|')) {
      this.next();
      filters.push(this.parseFilter());
    }
    return filters.length === 0 ? input : Object.freeze({ kind: 'pipe', input, filters: Object.freeze(filters), offset: input.offset });
  }

  private parseFilter(): FilterCall {
    const t = this.next();
    const known = `one of ${TEMPLATE_FILTERS.join(', ')}`;
    if (t.type !== 'ident' || !FILTERS.has(t.text)) {
      throw this.fail(t.type === 'ident' ? `Unknown filter '${t.text}'` : "Expected a filter name after '|'", t, known);
    }
    const name = t.text as FilterName;
    if (name !== 'default') {
      if (this.isOp(':', '(')) throw this.fail(`Filter '${name}' takes no argument`, this.peek(), `'|', an operator or ${this.endLabel}`);
      return Object.freeze({ name, offset: t.offset });
    }
    if (this.isOp(':')) {
      this.next();
      return Object.freeze({ name, arg: this.parseLiteral(), offset: t.offset });
    }
    if (this.isOp('(')) {
      this.next();
      const arg = this.parseLiteral();
      this.expectOp(')', "')' after the default value");
      return Object.freeze({ name, arg, offset: t.offset });
    }
    throw this.fail("Filter 'default' needs a value", this.peek(), "default: <literal> or default(<literal>)");
  }

  private parseLiteral(): Literal {
    const t = this.next();
    if (t.type === 'number' || t.type === 'string') return t.value;
    if (t.type === 'ident' && t.text === 'true') return true;
    if (t.type === 'ident' && t.text === 'false') return false;
    if (t.type === 'ident' && t.text === 'null') return null;
    throw this.fail('Expected a literal', t, LITERAL_EXPECTATION);
  }

  private parsePrimary(): Expr {
    const t = this.peek();
    if (this.isOp('(')) {
      this.next();
      this.enter(t);
      const inner = this.parseOr();
      this.expectOp(')', "')' to close the parenthesis");
      this.depth--;
      return inner;
    }
    if (t.type === 'ident' && ROOTS.has(t.text)) return this.parseRef();
    if (t.type === 'number' || t.type === 'string' || (t.type === 'ident' && ['true', 'false', 'null'].includes(t.text))) {
      return Object.freeze({ kind: 'literal', value: this.parseLiteral(), offset: t.offset });
    }
    if (t.type === 'ident') {
      throw this.fail(`Unknown reference root '${t.text}'`, t, `a reference starting with one of ${TEMPLATE_ROOTS.join(', ')}`);
    }
    throw this.fail('Expected an expression', t, `a reference (${TEMPLATE_ROOTS.join(', ')}) or ${LITERAL_EXPECTATION}`);
  }

  private parseRef(): Expr {
    const root = this.next();
    const path = [root.text];
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const t = this.next();
        if (t.type !== 'ident') throw this.fail("Expected a name after '.'", t, "a name such as output (use [0] for an index)");
        path.push(this.segment(t, t.text));
      } else if (this.isOp('[')) {
        this.next();
        const t = this.next();
        const isIndex = t.type === 'number' && Number.isSafeInteger(t.value) && (t.value as number) >= 0;
        if (!isIndex && t.type !== 'string') throw this.fail("Expected an index or quoted key after '['", t, "[0] or ['key']");
        path.push(this.segment(t, String(t.value)));
        this.expectOp(']', "']' to close the accessor");
      } else break;
    }
    if (this.isOp('(')) throw this.fail('Function calls are not allowed in templates', this.peek(), `an operator, '|' filter or ${this.endLabel}`);
    return Object.freeze({ kind: 'ref', path: Object.freeze(path), offset: root.offset });
  }

  private segment(t: Token, segment: string): string {
    if (isForbiddenSegment(segment)) {
      throw this.fail(`Reference segment '${segment}' is not allowed`, t, 'a data key (not __proto__, constructor or prototype)');
    }
    return segment;
  }
}

function checkLength(text: string): void {
  if (text.length > TEMPLATE_LIMITS.maxTextLength) {
    throw new TemplateSyntaxError('Template text is too long', {
      offset: TEMPLATE_LIMITS.maxTextLength, expected: `at most ${TEMPLATE_LIMITS.maxTextLength} characters`, found: `${text.length} characters`,
    });
  }
}

/** Finds the `}}` closing the `{{` at `open`, skipping quoted strings so `'}}'` inside one is text. */
function findClose(text: string, open: number): number {
  for (let i = open + 2; i < text.length; i++) {
    const c = text.charAt(i);
    if (text.startsWith('}}', i)) return i;
    if (c !== "'" && c !== '"') continue;
    const start = i;
    for (i++; i < text.length && text.charAt(i) !== c; i++) if (text.charAt(i) === '\\') i++;
    if (i >= text.length && text.indexOf('}}', open + 2) !== -1) {
      throw new TemplateSyntaxError('Unterminated string literal', { offset: start, expected: `a closing ${c}`, found: 'end of text' });
    }
  }
  throw new TemplateSyntaxError("Unclosed '{{'", { offset: open, expected: "'}}'", found: 'end of text' });
}

function parseRange(text: string, start: number, end: number, endLabel: string): Expr {
  return new Parser(tokenize(text, start, end), endLabel).parseWhole();
}

/** Parses a template string, uncached (`template.ts` caches). Throws `TemplateSyntaxError`. */
export function parseTemplateText(text: string): ParsedTemplate {
  checkLength(text);
  const parts: ParsedTemplate['parts'][number][] = [];
  let segments = 0;
  let i = 0;
  for (let open = text.indexOf('{{'); open !== -1; open = text.indexOf('{{', i)) {
    if (++segments > TEMPLATE_LIMITS.maxSegments) {
      throw new TemplateSyntaxError('Too many {{ }} segments', {
        offset: open, expected: `at most ${TEMPLATE_LIMITS.maxSegments} per string`, found: 'more',
      });
    }
    if (open > i) parts.push(text.slice(i, open));
    const close = findClose(text, open);
    parts.push(Object.freeze({ expr: parseRange(text, open + 2, close, "'}}'"), offset: open, end: close + 2 }));
    i = close + 2;
  }
  if (i < text.length) parts.push(text.slice(i));
  const isSingleExpression = segments === 1 && parts.every((p) => typeof p !== 'string' || p.trim() === '');
  return Object.freeze({ source: text, parts: Object.freeze(parts), isSingleExpression });
}

/** Parses a `when` condition, uncached: a bare expression or exactly one `{{ expr }}`. */
export function parseConditionText(text: string): Expr {
  checkLength(text);
  if (!text.includes('{{')) return parseRange(text, 0, text.length, 'end of condition');
  const parsed = parseTemplateText(text);
  const first = parsed.parts.find((p) => typeof p !== 'string');
  if (!parsed.isSingleExpression || first === undefined || typeof first === 'string') {
    throw new TemplateSyntaxError('A condition is a single expression', {
      offset: offsetOfExtraText(parsed), expected: 'a bare expression or exactly one {{ expr }}', found: describeFound(text),
    });
  }
  return first.expr;
}

/** Where a would-be condition stops being one expression: its second `{{`, or text beside the first. */
function offsetOfExtraText(parsed: ParsedTemplate): number {
  let offset = 0;
  let seenExpr = false;
  for (const part of parsed.parts) {
    if (typeof part === 'string') {
      const nonBlank = part.search(/\S/);
      if (nonBlank !== -1) return offset + nonBlank;
      offset += part.length;
    } else {
      if (seenExpr) return part.offset;
      seenExpr = true;
      offset = findClose(parsed.source, part.offset) + 2;
    }
  }
  return 0;
}

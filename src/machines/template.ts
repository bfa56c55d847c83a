/**
 * The runbook template language, part two: evaluation. Renders `{{ … }}` templates and `when`
 * conditions against a run's data by walking the AST of `template-parser.ts`: never eval, new
 * Function or vm (DESIGN.md §3: templates are never evaluated as JavaScript). Values are resolved
 * through own properties only, so a template cannot reach prototypes. Pure: no I/O, no clock.
 */
import {
  isForbiddenSegment, parseConditionText, parseTemplateText,
  type CompareOp, type Expr, type FilterCall, type ParsedTemplate, type TemplateRef,
} from './template-parser.ts';

export { TEMPLATE_FILTERS, TEMPLATE_LIMITS, TEMPLATE_ROOTS, TemplateSyntaxError } from './template-parser.ts';
export type {
  CompareOp, Expr, FilterCall, FilterName, Literal, ParsedTemplate, TemplateRef, TemplateRoot,
} from './template-parser.ts';

/**
 * A template that parsed but cannot be evaluated against this run's data: an unresolved reference,
 * `<` between a number and an object, a value `json` cannot encode. The same data gives the same
 * error, so it is never retryable. `path` names the reference involved, when there is one.
 */
export class TemplateEvalError extends Error {
  readonly code = 'template_eval';
  readonly retryable = false;
  readonly path?: string;

  constructor(message: string, path?: string) {
    super(message);
    this.name = 'TemplateEvalError';
    this.path = path;
  }
}

/** The data a template can read: one field per reference root. Plain JSON. */
export interface TemplateScope {
  readonly params?: Readonly<Record<string, unknown>>;
  readonly steps?: Readonly<Record<string, unknown>>;
  readonly run?: Readonly<Record<string, unknown>>;
  readonly incident?: Readonly<Record<string, unknown>> | null;
  readonly partition?: unknown;
}

/** How rendering treats references that have no value. */
export interface RenderOptions {
  /** called when a reference cannot be resolved (the value is undefined and no `default` filter rescued it); its return value is used instead. Without it, rendering throws TemplateEvalError naming the path. `runbook plan` uses it to print placeholders for values only known at run time. */
  onUnresolved?: (path: string) => unknown;
  /**
   * Roots whose values come later (`partition`, which a backfill supplies per partition): a
   * `{{ … }}` that reads one is kept as written, so the executor can render it when it knows it.
   */
  deferRoots?: readonly string[];
}

/** Deepest array/object nesting `renderValue` walks; runbook arguments are far shallower. */
const MAX_VALUE_DEPTH = 64;

type Orderable = number | string;

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const CANONICAL_INDEX = /^(?:0|[1-9]\d*)$/;

/** Cheap pre-check so callers only parse strings that hold a template. */
export function hasTemplate(text: string): boolean {
  return text.includes('{{');
}

/** Prints a path the way an author writes it (`steps.a.output.items[0]['odd key']`), for messages. */
export function formatPath(path: readonly string[]): string {
  return path
    .map((segment, i) => {
      if (i === 0) return segment;
      if (CANONICAL_INDEX.test(segment)) return `[${segment}]`;
      if (SEGMENT.test(segment)) return `.${segment}`;
      return `['${segment.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']`;
    })
    .join('');
}

/** A small LRU: the same runbook strings are parsed on every transition, lint and plan. */
class BoundedCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }
  set(key: string, value: V): V {
    const oldest = this.entries.keys().next();
    if (this.entries.size >= this.capacity && !oldest.done) this.entries.delete(oldest.value);
    this.entries.set(key, value);
    return value;
  }
}

const CACHE_ENTRIES = 2_000;
const templateCache = new BoundedCache<ParsedTemplate>(CACHE_ENTRIES);
const conditionCache = new BoundedCache<Expr>(CACHE_ENTRIES);

/**
 * Parses a template string (`"Roll {{ params.model }} back?"`); throws `TemplateSyntaxError`.
 * Results are cached (bounded) and frozen, since the same runbook strings are parsed repeatedly.
 */
export function parseTemplate(text: string): ParsedTemplate {
  return templateCache.get(text) ?? templateCache.set(text, parseTemplateText(text));
}

/**
 * Parses a `when` condition: a bare expression (`steps.check.output.healthy == false`) or one
 * `{{ expr }}` wrapper, since authors write both. Offsets are relative to `text`. Cached.
 */
export function parseCondition(text: string): Expr {
  return conditionCache.get(text) ?? conditionCache.set(text, parseConditionText(text));
}

/**
 * Every reference in a template or expression, in source order, so `runbook lint` can check that
 * params and step ids exist and that a step only reads steps before it.
 */
export function collectReferences(t: ParsedTemplate | Expr): TemplateRef[] {
  const stack: Expr[] = 'parts' in t ? t.parts.flatMap((p) => (typeof p === 'string' ? [] : [p.expr])).reverse() : [t];
  const refs: TemplateRef[] = [];
  for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
    if (e.kind === 'ref') refs.push({ path: e.path, offset: e.offset });
    else if (e.kind === 'not') stack.push(e.operand);
    else if (e.kind === 'and' || e.kind === 'or') stack.push(...[...e.operands].reverse());
    else if (e.kind === 'compare') stack.push(e.right, e.left);
    else if (e.kind === 'pipe') stack.push(e.input);
  }
  return refs;
}

function resolvePath(path: readonly string[], scope: TemplateScope): unknown {
  const [root, ...rest] = path;
  let current: unknown = root !== undefined && Object.hasOwn(scope, root) ? (scope as Record<string, unknown>)[root] : undefined;
  for (const segment of rest) {
    // Defence in depth: an Expr is plain data and may not come from the parser.
    if (isForbiddenSegment(segment)) throw new TemplateEvalError(`Reference segment '${segment}' is not allowed`, formatPath(path));
    if (Array.isArray(current)) {
      current = CANONICAL_INDEX.test(segment) ? current[Number(segment)] : undefined;
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, segment)) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

/** Truthiness for `when`: false, null, undefined, 0, NaN, '' and [] are false; all else true. */
function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isNumericString(value: unknown): value is string {
  return typeof value === 'string' && /^\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/.test(value);
}

/**
 * Brings a number and a numeric string to numbers: params typed in Slack arrive as text, and
 * `params.replicas == 3` should hold for `"3"` (and so should `params.replicas > 2`, for the same
 * reason). No other coercion: `'true' == true` is false, two strings compare as strings.
 */
function coercePair(a: unknown, b: unknown): [unknown, unknown] {
  if (typeof a === 'number' && isNumericString(b)) return [a, Number(b)];
  if (isNumericString(a) && typeof b === 'number') return [Number(a), b];
  return [a, b];
}

function describeOperand(e: Expr): string | undefined {
  if (e.kind === 'ref') return formatPath(e.path);
  return e.kind === 'pipe' ? describeOperand(e.input) : undefined;
}

function compare(e: Extract<Expr, { kind: 'compare' }>, a: unknown, b: unknown): boolean {
  // An unresolved operand (a step that has not run, an optional param) never equals anything.
  if (a === undefined || b === undefined) return e.op === '!=';
  const [x, y] = coercePair(a, b);
  if (e.op === '==') return x === y;
  if (e.op === '!=') return x !== y;
  const bothNumbers = typeof x === 'number' && typeof y === 'number';
  const bothStrings = typeof x === 'string' && typeof y === 'string';
  if (!bothNumbers && !bothStrings) {
    const path = describeOperand(e.left) ?? describeOperand(e.right);
    throw new TemplateEvalError(
      `'${e.op}' compares two numbers or two strings, not ${typeName(a)} and ${typeName(b)}${path ? ` (at ${path})` : ''}`, path,
    );
  }
  return ORDER[e.op](x as Orderable, y as Orderable);
}

const ORDER: Record<Exclude<CompareOp, '==' | '!='>, (x: Orderable, y: Orderable) => boolean> = {
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
};

function toJson(value: unknown, what: string): string {
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text;
  } catch {
    // Circular structures and BigInt land here; the message below is the useful part.
  }
  throw new TemplateEvalError(`${what}: a ${typeName(value)} value cannot be written as JSON`);
}

function mapText(value: unknown, name: string, map: (s: string) => string): unknown {
  if (value === undefined || value === null) return value;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return map(String(value));
  throw new TemplateEvalError(`Filter '${name}' expects text, not ${typeName(value)}`);
}

function applyFilter(f: FilterCall, value: unknown): unknown {
  switch (f.name) {
    case 'default':
      return value === undefined || value === null || value === '' ? f.arg ?? null : value;
    case 'json':
      return value === undefined ? undefined : toJson(value, "Filter 'json'");
    case 'lower':
      return mapText(value, f.name, (s) => s.toLowerCase());
    case 'upper':
      return mapText(value, f.name, (s) => s.toUpperCase());
    case 'trim':
      return mapText(value, f.name, (s) => s.trim());
    case 'length':
      if (value === undefined) return undefined;
      if (value === null) return 0;
      if (typeof value === 'string' || Array.isArray(value)) return value.length;
      if (typeof value === 'object') return Object.keys(value).length;
      throw new TemplateEvalError(`Filter 'length' expects text, a list or an object, not ${typeName(value)}`);
  }
}

function evaluate(e: Expr, scope: TemplateScope): unknown {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'ref':
      return resolvePath(e.path, scope);
    case 'not':
      return !isTruthy(evaluate(e.operand, scope));
    // Short-circuit, so `steps.a.output.n != null and steps.a.output.n > 3` is a usable guard.
    case 'and':
      return e.operands.every((o) => isTruthy(evaluate(o, scope)));
    case 'or':
      return e.operands.some((o) => isTruthy(evaluate(o, scope)));
    case 'compare':
      return compare(e, evaluate(e.left, scope), evaluate(e.right, scope));
    case 'pipe':
      return e.filters.reduce<unknown>((value, f) => applyFilter(f, value), evaluate(e.input, scope));
  }
}

/** Evaluates one `{{ }}` at the top of a render, where an undefined value is an error. */
function evaluateTop(e: Expr, scope: TemplateScope, options: RenderOptions | undefined): unknown {
  const value = evaluate(e, scope);
  if (value !== undefined) return value;
  const path = describeOperand(e) ?? `expression at offset ${e.offset}`;
  if (options?.onUnresolved) return options.onUnresolved(path);
  throw new TemplateEvalError(`'${path}' has no value in this run; add "| default: …" if it is optional`, path);
}

function interpolate(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return toJson(value, 'Interpolated value');
  return String(value);
}

/**
 * Renders a template against a run's data. A string that is exactly one `{{ expr }}` keeps the
 * value's type (`replicas: "{{ params.n }}"` stays a number for the executor); otherwise the
 * result is text, objects and arrays interpolated as JSON, null as ''. Throws
 * `TemplateSyntaxError` (when given unparsed text) or `TemplateEvalError`.
 */
export function renderTemplate(t: ParsedTemplate | string, scope: TemplateScope, options?: RenderOptions): unknown {
  const parsed = typeof t === 'string' ? parseTemplate(t) : t;
  const deferred = (expr: Expr) =>
    options?.deferRoots !== undefined && collectReferences(expr).some((ref) => options.deferRoots?.includes(ref.path[0] ?? '') ?? false);
  if (parsed.isSingleExpression) {
    const part = parsed.parts.find((p) => typeof p !== 'string');
    if (part !== undefined && typeof part !== 'string') return deferred(part.expr) ? parsed.source : evaluateTop(part.expr, scope, options);
  }
  let text = '';
  for (const part of parsed.parts) {
    if (typeof part === 'string') text += part;
    else text += deferred(part.expr) ? parsed.source.slice(part.offset, part.end) : interpolate(evaluateTop(part.expr, scope, options));
  }
  return text;
}

/**
 * Renders every template inside an executor's arguments (arrays and objects, plain JSON),
 * returning a new value: the runbook's IR is stored with the run and must never change.
 */
export function renderValue(value: unknown, scope: TemplateScope, options?: RenderOptions): unknown {
  return renderDeep(value, scope, options, 0);
}

function renderDeep(value: unknown, scope: TemplateScope, options: RenderOptions | undefined, depth: number): unknown {
  if (typeof value === 'string') return hasTemplate(value) ? renderTemplate(value, scope, options) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_VALUE_DEPTH) throw new TemplateEvalError(`Value is nested deeper than ${MAX_VALUE_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((item) => renderDeep(item, scope, options, depth + 1));
  // fromEntries defines own properties, so a `__proto__` key stays data instead of a prototype.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, scope, options, depth + 1)]));
}

/**
 * Decides a `when` condition. Truthiness: false, null, undefined, 0, '' and [] are false. An
 * unresolved reference is not an error here (`steps.x.output.ok == true` is simply false before x
 * ran), but when the whole condition is one unresolved reference `onUnresolved` is consulted, so
 * `runbook plan` can tell "skipped" from "decided at run time".
 */
export function evaluateCondition(e: Expr | string, scope: TemplateScope, options?: RenderOptions): boolean {
  const expr = typeof e === 'string' ? parseCondition(e) : e;
  const value = evaluate(expr, scope);
  if (value === undefined && options?.onUnresolved) {
    return isTruthy(options.onUnresolved(describeOperand(expr) ?? `expression at offset ${expr.offset}`));
  }
  return isTruthy(value);
}

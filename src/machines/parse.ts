/**
 * Parse: runbook text → `RunbookDocument`. Front matter is split off and parsed as YAML; the rest
 * goes through marked's lexer. `##` headings start steps; a fenced block whose info string names a
 * registered executor is the step's call; everything else is the step's instructions.
 * Nothing here judges the content: `validate.ts` does, so that all problems are reported at once.
 */
import { Lexer, type Token, type Tokens } from 'marked';
import type { Diagnostic, SourceLocation } from './diagnostics.ts';
import { checkSource } from './source-guard.ts';
import { parseYamlSource, type YamlSource } from './yaml-source.ts';

export interface ExecutableBlock {
  readonly executor: string;
  /** The whole info string (`ssm`, or `ssm extra words`). */
  readonly info: string;
  readonly location: SourceLocation;
  readonly closed: boolean;
  readonly yaml: YamlSource;
}

export interface StepNode {
  readonly id: string;
  readonly hasExplicitId: boolean;
  readonly title: string;
  readonly location: SourceLocation;
  /** Markdown under the heading, minus the executable block. */
  readonly instructions: string;
  readonly blocks: readonly ExecutableBlock[];
}

export interface RunbookDocument {
  readonly file: string;
  /** The text as lexed: BOM stripped, line endings normalised. */
  readonly text: string;
  readonly frontMatter?: YamlSource;
  readonly frontMatterLocation: SourceLocation;
  readonly title?: string;
  readonly intro: string;
  readonly steps: readonly StepNode[];
  readonly diagnostics: readonly Diagnostic[];
}

export interface ParseOptions {
  /** Info strings that select an executor (the catalog's names). */
  readonly executors: ReadonlySet<string>;
}

const FRONT_MATTER_FENCE = /^---[ \t]*$/;
const FRONT_MATTER_END = /^(?:---|\.\.\.)[ \t]*$/;
const EXPLICIT_ID = /\s*\{#([^}\s]*)\}\s*$/;

/** Parses a runbook; never throws on any input, however hostile. */
export function parseRunbook(file: string, source: string, options: ParseOptions): RunbookDocument {
  const guarded = checkSource(file, source);
  const start = { file, line: 1, column: 1 };
  if (!guarded.lexable) {
    return { file, text: guarded.text, frontMatterLocation: start, intro: '', steps: [], diagnostics: guarded.diagnostics };
  }
  const diagnostics: Diagnostic[] = [...guarded.diagnostics];
  const { frontMatter, body, bodyLine } = splitFrontMatter(file, guarded.text, diagnostics);
  const lines = createLineIndex(body, bodyLine, file);
  const tokens = lexMarkdown(body, { file, line: bodyLine, column: 1 }, diagnostics);

  let title: string | undefined;
  const introParts: string[] = [];
  const steps: StepBuilder[] = [];
  let offset = 0;
  for (const token of tokens) {
    const location = lines.locate(offset);
    offset += token.raw.length;
    const current = steps.at(-1);
    if (token.type === 'heading' && (token as Tokens.Heading).depth === 2) {
      steps.push(startStep(token as Tokens.Heading, location, steps.length));
    } else if (token.type === 'heading' && (token as Tokens.Heading).depth === 1 && title === undefined && !current) {
      title = (token as Tokens.Heading).text.trim();
    } else if (!current) {
      introParts.push(token.raw);
    } else if (isExecutableBlock(token, options.executors)) {
      current.blocks.push(readBlock(token, location, diagnostics));
    } else {
      reportNestedBlocks(token, location, options.executors, diagnostics);
      current.instructions.push(token.raw);
      if (token.type === 'code') reportUnclosedFence(token as Tokens.Code, location, false, diagnostics);
    }
  }
  return {
    file,
    text: guarded.text,
    frontMatter: frontMatter?.yaml,
    frontMatterLocation: frontMatter?.location ?? start,
    title,
    intro: introParts.join('').trim(),
    steps: steps.map((s) => ({ ...s, instructions: s.instructions.join('').trim() })),
    diagnostics,
  };
}

/** marked is not ours: whatever it throws on input the guard let through becomes a diagnostic. */
function lexMarkdown(body: string, origin: SourceLocation, diagnostics: Diagnostic[]): Token[] {
  try {
    return new Lexer({ gfm: true }).lex(body);
  } catch (error) {
    diagnostics.push({
      severity: 'error',
      code: 'unreadable-markdown',
      message: `the Markdown could not be read: ${error instanceof Error ? error.message : String(error)}`,
      location: origin,
    });
    return [];
  }
}

interface StepBuilder {
  id: string;
  hasExplicitId: boolean;
  title: string;
  location: SourceLocation;
  instructions: string[];
  blocks: ExecutableBlock[];
}

function startStep(heading: Tokens.Heading, location: SourceLocation, index: number): StepBuilder {
  const text = heading.text.trim();
  const explicit = EXPLICIT_ID.exec(text);
  const title = explicit ? text.slice(0, explicit.index).trim() : text;
  return {
    id: explicit ? (explicit[1] ?? '') : slugify(title) || `step-${index + 1}`,
    hasExplicitId: explicit !== null,
    title: title || `Step ${index + 1}`,
    location,
    instructions: [],
    blocks: [],
  };
}

/** GitHub-style slug, limited to 64 characters: `Check what is serving` → `check-what-is-serving`. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/[`*_~[\]()]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
}

function executorOf(token: Token): string | undefined {
  if (token.type !== 'code') return undefined;
  const code = token as Tokens.Code;
  if (code.codeBlockStyle === 'indented' || !code.lang) return undefined;
  return code.lang.split(/\s+/)[0];
}

function isExecutableBlock(token: Token, executors: ReadonlySet<string>): token is Tokens.Code {
  const name = executorOf(token);
  return name !== undefined && executors.has(name);
}

function readBlock(token: Tokens.Code, location: SourceLocation, diagnostics: Diagnostic[]): ExecutableBlock {
  const info = token.lang?.trim() ?? '';
  const executor = executorOf(token) ?? '';
  const closed = reportUnclosedFence(token, location, true, diagnostics);
  const bodyOrigin = { file: location.file, line: location.line + 1, column: 1 };
  return { executor, info, location, closed, yaml: parseYamlSource(token.text, bodyOrigin, `the \`${executor}\` block`) };
}

/** Reports a fence that runs to the end of the file; returns whether the fence was closed. */
function reportUnclosedFence(token: Tokens.Code, location: SourceLocation, executable: boolean, diagnostics: Diagnostic[]): boolean {
  if (token.codeBlockStyle === 'indented') return true;
  const lines = token.raw.replace(/\n+$/, '').split('\n');
  const opening = /^ {0,3}(`{3,}|~{3,})/.exec(lines[0] ?? '')?.[1] ?? '```';
  const last = lines.length > 1 ? (lines.at(-1) ?? '') : '';
  const closing = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(last)?.[1];
  const closed = closing !== undefined && closing[0] === opening[0] && closing.length >= opening.length;
  if (!closed) {
    diagnostics.push({
      severity: executable ? 'error' : 'warning',
      code: 'unclosed-fence',
      message: `the code block opened here is never closed, so everything after it to the end of the file is part of it`,
      location,
      expected: `a closing ${opening}`,
      found: 'the end of the file',
    });
  }
  return closed;
}

/** An executable block inside a list or quote is shown, not run: say so rather than silently ignore it. */
function reportNestedBlocks(token: Token, location: SourceLocation, executors: ReadonlySet<string>, diagnostics: Diagnostic[]): void {
  if (token.type === 'code') return;
  const found = findNestedExecutor(token, executors, 0);
  if (found) {
    diagnostics.push({
      severity: 'warning',
      code: 'nested-executable-block',
      message: `a \`${found}\` block inside a list or quote is documentation only and will not run`,
      location,
      expected: 'executable blocks at the top level of a step',
      found: `a nested \`${found}\` block`,
    });
  }
}

function findNestedExecutor(token: Token, executors: ReadonlySet<string>, depth: number): string | undefined {
  if (depth > 64) return undefined;
  const name = executorOf(token);
  if (name !== undefined && executors.has(name)) return name;
  const children: Token[] = [];
  if ('tokens' in token && Array.isArray(token.tokens)) children.push(...(token.tokens as Token[]));
  if (token.type === 'list') children.push(...(token as Tokens.List).items);
  for (const child of children) {
    const nested = findNestedExecutor(child, executors, depth + 1);
    if (nested) return nested;
  }
  return undefined;
}

function splitFrontMatter(file: string, text: string, diagnostics: Diagnostic[]) {
  const lines = text.split('\n', 2);
  if (!FRONT_MATTER_FENCE.test(lines[0] ?? '')) return { body: text, bodyLine: 1 };
  let cursor = text.indexOf('\n') + 1;
  let line = 2;
  while (cursor > 0 && cursor < text.length) {
    const next = text.indexOf('\n', cursor);
    const current = text.slice(cursor, next === -1 ? text.length : next);
    if (FRONT_MATTER_END.test(current)) {
      const location = { file, line: 2, column: 1 };
      const yaml = parseYamlSource(text.slice(text.indexOf('\n') + 1, cursor), location, 'the front matter');
      diagnostics.push(...yaml.diagnostics);
      const bodyStart = next === -1 ? text.length : next + 1;
      return { frontMatter: { yaml, location }, body: text.slice(bodyStart), bodyLine: line + 1 };
    }
    if (next === -1) break;
    cursor = next + 1;
    line += 1;
  }
  diagnostics.push({
    severity: 'error',
    code: 'unclosed-front-matter',
    message: 'the front matter opened on line 1 is never closed',
    location: { file, line: 1, column: 1 },
    expected: 'a line `---` after the front matter',
    found: 'the end of the file',
  });
  return { body: text, bodyLine: 1 };
}

function createLineIndex(text: string, firstLine: number, file: string) {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return {
    locate(offset: number): SourceLocation {
      let low = 0;
      let high = starts.length - 1;
      while (low < high) {
        const mid = (low + high + 1) >> 1;
        if ((starts[mid] ?? 0) <= offset) low = mid;
        else high = mid - 1;
      }
      const lineStart = starts[low] ?? 0;
      return { file, line: firstLine + low, column: offset - lineStart + 1 };
    },
  };
}

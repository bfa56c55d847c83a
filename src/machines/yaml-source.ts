/**
 * YAML embedded in a runbook (front matter, executable blocks), parsed with positions so every
 * diagnostic about a value can point at the line and column where that value is written.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Diagnostic, SourceLocation } from './diagnostics.ts';

/** YAML aliases may expand at most this many times: a "billion laughs" document is an error, not a hang. */
const MAX_ALIAS_COUNT = 100;

export type YamlPath = readonly (string | number)[];

export interface YamlSource {
  /** The parsed value as plain JSON data (undefined when the YAML did not parse). */
  readonly value: unknown;
  readonly diagnostics: readonly Diagnostic[];
  /** Where the value at `path` is written; the nearest written ancestor when it is missing. */
  locate(path: YamlPath, options?: { preferKey?: boolean }): SourceLocation;
}

/**
 * Parses `text`, which starts at `origin` in the runbook file. Problems come back as diagnostics
 * with `code` (`yaml-syntax`), never as exceptions.
 */
export function parseYamlSource(text: string, origin: SourceLocation, what: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const toLocation = (offset: number): SourceLocation => {
    const pos = lineCounter.linePos(offset);
    return {
      file: origin.file,
      line: origin.line + pos.line - 1,
      column: pos.line === 1 ? origin.column + pos.col - 1 : pos.col,
    };
  };
  const diagnostics: Diagnostic[] = doc.errors.map((error) => ({
    severity: 'error',
    code: 'yaml-syntax',
    message: `${what} is not valid YAML: ${firstLine(error.message)}`,
    location: toLocation(error.pos[0]),
    expected: 'valid YAML',
  }));
  let value: unknown;
  if (diagnostics.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      diagnostics.push({
        severity: 'error',
        code: 'yaml-syntax',
        message: `${what} could not be read: ${firstLine(error instanceof Error ? error.message : String(error))}`,
        location: origin,
      });
    }
  }
  return {
    value,
    diagnostics,
    locate: (path, options) => toLocation(findOffset(doc, path, options?.preferKey ?? false) ?? 0),
  };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

function findOffset(doc: Document, path: YamlPath, preferKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const [index, segment] of path.entries()) {
    const isLast = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) return offset;
      const keyOffset = rangeStart(pair.key);
      node = pair.value;
      offset = isLast && preferKey ? keyOffset : rangeStart(node) ?? keyOffset;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      offset = rangeStart(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}

/**
 * Diagnostics: every problem the compiler finds, with where it is, what was expected and what
 * was found. Validation collects all of them at once instead of stopping at the first.
 */

/** A position in a runbook file; line and column are 1-based, as editors show them. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: Severity;
  /** The rule that reported it, kebab-case (`unknown-executor`, `duplicate-step-id`). */
  readonly code: string;
  /** What is wrong, in one sentence a person can act on. */
  readonly message: string;
  readonly location: SourceLocation;
  /** What the rule expected to find, when that can be said briefly. */
  readonly expected?: string;
  /** What it found instead (truncated; never a secret). */
  readonly found?: string;
}

/** Longest rendering of a found value in a message; longer ones are cut and marked. */
export const MAX_FOUND_LENGTH = 80;

/** Renders a value found in the source for a message: JSON-ish, truncated, single line. */
export function describeFound(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'nothing';
  else if (typeof value === 'string') text = JSON.stringify(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_FOUND_LENGTH ? `${text.slice(0, MAX_FOUND_LENGTH - 1)}…` : text;
}

/** `runbooks/rollback-model.md:14:3 error [unknown-executor] … (expected …; found …)` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.location.file}:${d.location.line}:${d.location.column}`;
  const details: string[] = [];
  if (d.expected !== undefined) details.push(`expected ${d.expected}`);
  if (d.found !== undefined) details.push(`found ${d.found}`);
  const tail = details.length > 0 ? ` (${details.join('; ')})` : '';
  return `${where} ${d.severity} [${d.code}] ${d.message}${tail}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Orders diagnostics by file, line and column, so output reads top to bottom. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      a.location.file.localeCompare(b.location.file) ||
      a.location.line - b.location.line ||
      a.location.column - b.location.column,
  );
}

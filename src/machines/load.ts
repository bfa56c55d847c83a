/**
 * The compiler's one entry point: text → parsed document → validated runbook, with every
 * diagnostic. Pure: the caller reads the file and supplies the executor catalog.
 */
import type { Diagnostic } from './diagnostics.ts';
import type { ExecutorCatalog } from './executor-spec.ts';
import type { Runbook } from './ir.ts';
import { parseRunbook } from './parse.ts';
import { validateRunbook } from './validate.ts';

export interface LoadedRunbook {
  readonly file: string;
  readonly source: string;
  /** Present when there are no errors. */
  readonly runbook?: Runbook;
  /** As much of the runbook as could be built, for tooling even when there are errors. */
  readonly draft: Runbook;
  readonly diagnostics: readonly Diagnostic[];
}

export function loadRunbook(file: string, source: string, catalog: ExecutorCatalog): LoadedRunbook {
  const document = parseRunbook(file, source, { executors: new Set(catalog.keys()) });
  const result = validateRunbook(document, catalog);
  return { file, source, runbook: result.runbook, draft: result.draft, diagnostics: result.diagnostics };
}

import { formatDiagnostic } from '../../machines/diagnostics.ts';
import type { ExecutorCatalog } from '../../machines/executor-spec.ts';
import { CliError } from '../cli-error.ts';
import type { CliIo } from '../io.ts';
import { collectRunbookFiles, readRunbookFile } from '../runbook-files.ts';

export interface LintOptions {
  readonly paths: readonly string[];
  readonly format: 'text' | 'json';
}

/** `runbook lint [paths…]`: exit 1 when any file has errors, 0 with warnings only. */
export async function lintCommand(options: LintOptions, catalog: ExecutorCatalog, io: CliIo): Promise<number> {
  const files = await collectRunbookFiles(options.paths);
  if (files.length === 0) throw new CliError('runbook_not_found', `no runbooks (*.md) found in ${options.paths.join(', ')}`);
  const results = [];
  for (const file of files) results.push(await readRunbookFile(file, catalog));
  const errors = results.reduce((n, r) => n + r.diagnostics.filter((d) => d.severity === 'error').length, 0);
  const warnings = results.reduce((n, r) => n + r.diagnostics.filter((d) => d.severity === 'warning').length, 0);
  if (options.format === 'json') {
    const report = results.map((r) => ({ file: r.file, id: r.draft.id, ok: r.runbook !== undefined, steps: r.draft.steps.length, diagnostics: r.diagnostics }));
    io.stdout(`${JSON.stringify({ files: report, errors, warnings }, null, 2)}\n`);
  } else {
    for (const result of results) for (const d of result.diagnostics) io.stdout(`${formatDiagnostic(d)}\n`);
    const clean = results.filter((r) => r.diagnostics.length === 0).length;
    io.stdout(`${files.length} runbook${files.length === 1 ? '' : 's'} checked: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}, ${clean} clean\n`);
  }
  return errors > 0 ? 1 : 0;
}

import { compileRunbook } from '../../machines/compile.ts';
import { formatDiagnostic } from '../../machines/diagnostics.ts';
import type { ExecutorCatalog } from '../../machines/executor-spec.ts';
import { machineToJson, machineToMermaid } from '../../machines/graph.ts';
import type { CliIo } from '../io.ts';
import { resolveRunbook } from '../runbook-files.ts';

/** `runbook graph <runbook> [--format mermaid|json]`: the compiled machine. */
export async function graphCommand(name: string, format: 'mermaid' | 'json', runbooksDir: string, catalog: ExecutorCatalog, io: CliIo): Promise<number> {
  const loaded = await resolveRunbook(name, runbooksDir, catalog);
  if (!loaded.runbook) {
    for (const d of loaded.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
    io.stderr(`${loaded.file} has errors; fix them to see its graph (runbook lint ${loaded.file})\n`);
    return 1;
  }
  const machine = compileRunbook(loaded.runbook);
  io.stdout(format === 'json' ? `${JSON.stringify(machineToJson(machine), null, 2)}\n` : machineToMermaid(machine));
  return 0;
}

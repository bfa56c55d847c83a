import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRunbook, type LoadedRunbook } from '../../../src/machines/load.ts';
import { executorCatalog } from '../../../src/executors/specs.ts';

/** 142 real runbooks written outside this project (../shared/corpus, beside the repository). */
const CORPUS = fileURLToPath(new URL('../../../../shared/corpus/real-runbooks/', import.meta.url));

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return markdownFiles(full);
    return /\.(md|markdown)$/i.test(name) ? [full] : [];
  });
}

describe.skipIf(!existsSync(CORPUS))('the real-runbook corpus', () => {
  // Listed when the tests run, not when they are collected: a skipped suite must not touch the disk.
  // SOURCES.md at the top describes where the runbooks come from; it is not one of them.
  const corpusFiles = () => markdownFiles(CORPUS).filter((f) => relative(CORPUS, f) !== 'SOURCES.md').sort();
  const results: LoadedRunbook[] = [];
  const slowest = { file: '', ms: 0 };

  it('goes through lint without a crash or a hang', () => {
    const files = corpusFiles();
    for (const file of files) {
      const started = performance.now();
      const name = relative(CORPUS, file);
      results.push(loadRunbook(name, readFileSync(file, 'utf8'), executorCatalog));
      const ms = performance.now() - started;
      if (ms > slowest.ms) Object.assign(slowest, { file: name, ms });
    }
    expect(results).toHaveLength(files.length);
    expect(files.length).toBe(142);
  });

  it('records how many compile to a checklist and how many get diagnostics', () => {
    const compiled = results.filter((r) => r.runbook !== undefined);
    const summary = {
      files: results.length,
      compiled: compiled.length,
      compiledClean: compiled.filter((r) => r.diagnostics.length === 0).length,
      checklistsOnly: compiled.filter((r) => r.runbook?.steps.every((s) => s.kind === 'manual')).length,
      withErrors: results.filter((r) => r.runbook === undefined).length,
      withDiagnostics: results.filter((r) => r.diagnostics.length > 0).length,
    };
    const errorCodes: Record<string, number> = {};
    for (const r of results) for (const d of r.diagnostics) errorCodes[`${d.severity}:${d.code}`] = (errorCodes[`${d.severity}:${d.code}`] ?? 0) + 1;
    console.info(`corpus: ${JSON.stringify(summary)}; diagnostics ${JSON.stringify(errorCodes)}; slowest ${slowest.file} ${slowest.ms.toFixed(1)} ms`);
    // Recorded figures: a change here means the compiler now reads real-world runbooks differently.
    expect(summary).toEqual(RECORDED);
    // Every diagnostic points somewhere real in its own file.
    for (const r of results) for (const d of r.diagnostics) expect(d.location.line).toBeGreaterThanOrEqual(1);
  });
});

const RECORDED = { files: 142, compiled: 123, compiledClean: 74, checklistsOnly: 123, withErrors: 19, withDiagnostics: 68 };

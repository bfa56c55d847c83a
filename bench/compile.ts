/**
 * Compiler figures: compile time per runbook (median and p99) over the shipped runbooks and the
 * real-runbook corpus, transition cost per event, and the size of a persisted snapshot.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compileRunbook } from '../src/machines/compile.ts';
import { loadRunbook } from '../src/machines/load.ts';
import { applyEvent, startRun, type PersistedRun } from '../src/machines/run-machine.ts';
import { possibleEvents } from '../src/machines/simulate.ts';
import { executorCatalog } from '../src/executors/specs.ts';
import { ms, summarize, us, type Figure } from './stats.ts';

const CORPUS = new URL('../../shared/corpus/real-runbooks/', import.meta.url).pathname;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : /\.md$/.test(name) && name !== 'SOURCES.md' ? [full] : [];
  });
}

function timeCompile(paths: readonly string[], rounds: number): number[] {
  const sources = paths.map((p) => [p, readFileSync(p, 'utf8')] as const);
  const samples: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    for (const [path, text] of sources) {
      const started = performance.now();
      const loaded = loadRunbook(path, text, executorCatalog);
      if (loaded.runbook) compileRunbook(loaded.runbook);
      samples.push(performance.now() - started);
    }
  }
  return samples;
}

export function benchCompile(): Figure[] {
  const shipped = files(new URL('../runbooks/', import.meta.url).pathname);
  const corpus = files(CORPUS);
  timeCompile(shipped, 3); // warm-up: JIT and the template cache
  const shippedStats = summarize(timeCompile(shipped, 40));
  const corpusStats = summarize(timeCompile(corpus, 5));

  // Transition cost: drive the rollback runbook along its happy path many times, one event at a time,
  // each through the persisted JSON snapshot as the engine does.
  const rollback = loadRunbook('rollback-model.md', readFileSync(new URL('../runbooks/rollback-model.md', import.meta.url), 'utf8'), executorCatalog).runbook;
  if (!rollback) throw new Error('rollback-model.md does not compile');
  const machine = compileRunbook(rollback);
  const transitions: number[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < 300; i += 1) {
    let snapshot: PersistedRun = startRun(machine, { runId: `r${i}`, runbookId: rollback.id, requester: { id: 'UREQ' }, params: { model: 'model-x' } }).snapshot;
    while (snapshot.status === 'active') {
      const event = possibleEvents(rollback, snapshot.context, { cancel: false })[0];
      if (!event) break;
      const started = performance.now();
      snapshot = applyEvent(machine, snapshot, event).snapshot;
      transitions.push(performance.now() - started);
      sizes.push(Buffer.byteLength(JSON.stringify(snapshot)));
    }
  }
  const t = summarize(transitions.slice(transitions.length / 3));
  const size = summarize(sizes);
  return [
    { name: 'compile, shipped runbooks (p50 / p99)', value: `${ms(shippedStats.p50)} / ${ms(shippedStats.p99)}`, how: `parse + validate + compile, ${shipped.length} runbooks × 40 rounds after warm-up` },
    { name: 'compile, real-runbook corpus (p50 / p99)', value: `${ms(corpusStats.p50)} / ${ms(corpusStats.p99)}`, how: `${corpus.length} files × 5 rounds; max ${ms(corpusStats.max)}` },
    { name: 'transition per event (p50 / p99)', value: `${us(t.p50)} / ${us(t.p99)}`, how: 'applyEvent on rollback-model: restore JSON snapshot → transition → persist JSON' },
    { name: 'persisted snapshot size (p50 / max)', value: `${(size.p50 / 1024).toFixed(1)} KiB / ${(size.max / 1024).toFixed(1)} KiB`, how: 'JSON bytes of every snapshot along the rollback-model happy path' },
  ];
}

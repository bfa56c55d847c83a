import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileRunbook } from '../../src/machines/compile.ts';
import { formatDiagnostic } from '../../src/machines/diagnostics.ts';
import type { Runbook } from '../../src/machines/ir.ts';
import { loadRunbook, type LoadedRunbook } from '../../src/machines/load.ts';
import { applyEvent, startRun, type PersistedRun } from '../../src/machines/run-machine.ts';
import type { Effect, Person, RunEvent, RunInput } from '../../src/machines/run-types.ts';
import { executorCatalog } from '../../src/executors/specs.ts';

export const FIXTURES = fileURLToPath(new URL('../fixtures/runbooks/', import.meta.url));

/** Loads runbook text with the real executor catalog. */
export function load(text: string, file = 'test.md'): LoadedRunbook {
  return loadRunbook(file, text, executorCatalog);
}

export function loadFixture(name: string): LoadedRunbook {
  return loadRunbook(`fixtures/${name}`, readFileSync(`${FIXTURES}${name}`, 'utf8'), executorCatalog);
}

/** Loads a runbook that must be free of errors; fails the test with the diagnostics otherwise. */
export function valid(text: string): Runbook {
  const loaded = load(text);
  if (!loaded.runbook) throw new Error(`expected a valid runbook:\n${loaded.diagnostics.map(formatDiagnostic).join('\n')}`);
  return loaded.runbook;
}

/**
 * Two steps to end a runbook with: `approve`, a gate asking "Change <target>?", then `apply`, a
 * `record` of "apply <target>". The runbook must declare a `target` param.
 */
export const APPROVE_THEN_APPLY_STEPS = `## Approve {#approve}
\`\`\`approve
message: "Change {{ params.target }}?"
\`\`\`

## Apply {#apply}
\`\`\`record
label: "apply {{ params.target }}"
timeout: 10s
\`\`\`
`;

export const alice: Person = { id: 'UALICE', name: 'alice' };
export const bob: Person = { id: 'UBOB', name: 'bob', groups: ['@ml-oncall-leads'] };
export const carol: Person = { id: 'UCAROL', name: 'carol', groups: ['@ml-oncall-leads'] };

/**
 * Drives a compiled runbook with events, the way the engine does: every event goes through
 * the persisted JSON snapshot, so every state visited is also a persist/restore round trip.
 */
export class RunDriver {
  readonly machine;
  snapshot: PersistedRun;
  readonly effects: Effect[] = [];
  lastEffects: readonly Effect[] = [];

  constructor(runbook: Runbook, input: Partial<RunInput> = {}) {
    this.machine = compileRunbook(runbook);
    const started = startRun(this.machine, { runId: 'run1', runbookId: runbook.id, requester: alice, params: {}, ...input });
    this.snapshot = started.snapshot;
    this.record(started.effects);
  }

  send(event: RunEvent): boolean {
    const stepped = applyEvent(this.machine, this.snapshot, event);
    this.snapshot = stepped.snapshot;
    this.record(stepped.effects);
    return stepped.changed;
  }

  private record(effects: readonly Effect[]) {
    this.lastEffects = effects;
    this.effects.push(...effects);
  }

  get status() {
    return this.snapshot.status === 'done' ? this.snapshot.context.final : 'active';
  }

  step(id: string) {
    return this.snapshot.context.steps[id];
  }

  /** The last `step.run` effect (what a worker would be asked to do now). */
  lastRun(): Extract<Effect, { kind: 'step.run' }> {
    const runs = this.effects.filter((e): e is Extract<Effect, { kind: 'step.run' }> => e.kind === 'step.run');
    const last = runs.at(-1);
    if (!last) throw new Error('no step.run effect yet');
    return last;
  }

  succeed(output: unknown = {}) {
    const run = this.lastRun();
    return this.send({ type: 'step.succeeded', stepId: run.stepId, attempt: run.attempt, phase: run.phase, output });
  }

  fail(code = 'boom', retryable = true) {
    const run = this.lastRun();
    return this.send({ type: 'step.failed', stepId: run.stepId, attempt: run.attempt, phase: run.phase, error: { code, message: `${code} happened`, retryable } });
  }

  kinds(effects: readonly Effect[] = this.lastEffects): string[] {
    return effects.map((e) => e.kind);
  }
}

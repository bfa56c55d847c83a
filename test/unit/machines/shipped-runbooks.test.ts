import { readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { getAdjacencyMap, getShortestPaths } from '@xstate/graph';
import type { AnyMachineSnapshot } from 'xstate';
import { describe, expect, it } from 'vitest';
import { compileRunbook } from '../../../src/machines/compile.ts';
import { formatDiagnostic } from '../../../src/machines/diagnostics.ts';
import { loadRunbook } from '../../../src/machines/load.ts';
import { applyEvent, startRun } from '../../../src/machines/run-machine.ts';
import type { RunContext, RunEvent, RunInput } from '../../../src/machines/run-types.ts';
import { possibleEvents } from '../../../src/machines/simulate.ts';
import { executorCatalog } from '../../../src/executors/specs.ts';

const dir = new URL('../../../runbooks/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.md')).sort();

const sampleParams: Record<string, Record<string, unknown>> = {
  'rollback-model': { model: 'model-x' },
  'failover-region': { service: 'model-serving', from: 'us-east-1', to: 'us-west-2' },
  'backfill-features': { dataset: 'user-features', from: '2026-11-01', to: '2026-11-03' },
  'diagnose-model-latency': { model: 'model-x' },
  'respond-to-drift': { model: 'model-x' },
};

describe('shipped runbooks', () => {
  it('ships the five runbooks the team relies on', () => {
    expect(files).toEqual(['backfill-features.md', 'diagnose-model-latency.md', 'failover-region.md', 'respond-to-drift.md', 'rollback-model.md']);
  });

  describe.each(files)('%s', (file) => {
    const loaded = loadRunbook(`runbooks/${file}`, readFileSync(new URL(file, dir), 'utf8'), executorCatalog);

    it('lints clean: no errors and no warnings', () => {
      expect(loaded.diagnostics.map(formatDiagnostic)).toEqual([]);
    });

    const runbook = loaded.runbook;
    if (!runbook) return;
    const machine = compileRunbook(runbook);
    const requiredParams = Object.fromEntries(runbook.params.filter((p) => p.required).map((p) => [p.name, sampleParams[runbook.id]?.[p.name]]));
    const input: RunInput = { runId: 'run1', runbookId: runbook.id, requester: { id: 'UREQUESTER' }, params: { ...Object.fromEntries(runbook.params.filter((p) => p.default !== undefined).map((p) => [p.name, p.default])), ...requiredParams } };
    const events = (snapshot: AnyMachineSnapshot) => (snapshot.status === 'done' ? [] : possibleEvents(runbook, snapshot.context as RunContext));
    // States that differ only in outputs, errors or who approved behave alike from here on:
    // merging them keeps the enumeration finite and fast without hiding an outcome.
    const serializeState = (s: AnyMachineSnapshot) => {
      const context = s.context as RunContext;
      const statuses = Object.fromEntries(Object.entries(context.steps).map(([id, step]) => [id, [step.status, step.attempt, step.undoAttempt ?? 0, step.approvals?.length ?? 0]]));
      return JSON.stringify({ value: s.value, statuses, undo: context.undoStack, rollback: context.rollback, final: context.final });
    };

    it('has sample params for every required param', () => {
      expect(Object.values(requiredParams).every((v) => v !== undefined)).toBe(true);
    });

    type Vertex = { state: AnyMachineSnapshot; transitions: Record<string, { event: RunEvent; state: AnyMachineSnapshot }> };
    let vertices: Vertex[] | undefined;
    const graph = () => (vertices ??= Object.values(getAdjacencyMap(machine, { input, events, serializeState })) as Vertex[]);

    it('never gets stuck: every reachable state that is not final moves on some event', () => {
      const states = graph();
      expect(states.length).toBeGreaterThan(runbook.steps.length);
      for (const vertex of states) {
        if (vertex.state.status === 'done') continue;
        const moves = Object.values(vertex.transitions).filter((t) => t.state !== vertex.state);
        expect(moves.length, `stuck in ${JSON.stringify(vertex.state.value)}`).toBeGreaterThan(0);
      }
    });

    it('ends every enumerated path in a final state, reaching each outcome the runbook allows', () => {
      const paths = getShortestPaths(machine, { input, events, serializeState, toState: (s) => s.status === 'done' });
      expect(paths.length).toBeGreaterThan(0);
      const outcomes = new Set(paths.map((p) => (p.state.context as RunContext).final));
      expect([...outcomes].every((o) => o !== null)).toBe(true);
      expect(outcomes).toContain('succeeded');
      expect(outcomes).toContain('cancelled');
      if (runbook.steps.some((s) => s.kind === 'call' && s.onFailure.kind === 'abort')) expect(outcomes).toContain('failed');
      if (runbook.steps.some((s) => s.kind === 'approval')) expect(outcomes).toContain('rejected');
      if (runbook.steps.some((s) => s.onFailure.kind === 'rollback') && runbook.steps.some((s) => s.undo)) expect(outcomes).toContain('rolled_back');
    });

    it('survives persist → JSON → restore at every reachable state', () => {
      // From every reachable state: persist it through JSON, restore it, apply one event, and
      // land exactly where the live machine does.
      const mismatches: string[] = [];
      let checked = 0;
      for (const vertex of graph()) {
        const stored = JSON.parse(JSON.stringify(machine.getPersistedSnapshot(vertex.state)));
        const [eventKey, next] = Object.entries(vertex.transitions)[0] ?? [];
        if (!eventKey || !next) continue;
        const stepped = applyEvent(machine, stored, JSON.parse(eventKey) as RunEvent);
        const restored = { value: stepped.snapshot.value, context: stepped.snapshot.context };
        const live = JSON.parse(JSON.stringify({ value: next.state.value, context: next.state.context }));
        if (!isDeepStrictEqual(restored, live)) mismatches.push(`${JSON.stringify(vertex.state.value)} + ${eventKey}`);
        checked += 1;
      }
      expect(mismatches).toEqual([]);
      expect(checked).toBeGreaterThan(runbook.steps.length);
      expect(startRun(machine, input).snapshot.status).toBe('active');
    });
  });
});

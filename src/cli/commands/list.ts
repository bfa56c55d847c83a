/** `runbook list [--limit N] [--format text|json]`: recent runs, newest first. */
import type { RunRecord } from '../../engine/run-store.ts';
import { loadConfig } from '../config.ts';
import { withClientApp } from '../connect.ts';
import type { CliIo } from '../io.ts';
import { currentStep, formatElapsed, formatTime, personName, renderTable, runElapsedMs } from '../run-view.ts';

/** `runbook list` flags, parsed. */
export interface ListOptions {
  /** @default 20 */
  readonly limit: number;
  readonly format: 'text' | 'json';
}

/** One run as `list --format json` prints it. */
export interface RunListEntry {
  readonly id: string;
  readonly runbook: string;
  readonly status: RunRecord['status'];
  readonly requester: { readonly id: string; readonly name?: string };
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly durationMs: number;
  /** For an active run: the step it is at. */
  readonly currentStep?: { readonly id: string; readonly status: string };
  readonly incidentId?: string;
}

/** Prints recent runs; exit 0. */
export async function listCommand(options: ListOptions, io: CliIo): Promise<number> {
  const config = loadConfig(io.env, io.cwd);
  return withClientApp(config, io, 'list', async (app) => {
    const now = Date.now();
    const entries = (await app.runtime.engine.store.list(options.limit)).map((run) => listEntry(run, now));
    io.stdout(options.format === 'json' ? `${JSON.stringify(entries, null, 2)}\n` : renderList(entries));
    return 0;
  });
}

function listEntry(run: RunRecord, now: number): RunListEntry {
  const current = currentStep(run);
  return {
    id: run.id,
    runbook: run.runbookId,
    status: run.status,
    requester: { id: run.requester.id, ...(run.requester.name ? { name: run.requester.name } : {}) },
    startedAt: new Date(run.createdAt).toISOString(),
    updatedAt: new Date(run.updatedAt).toISOString(),
    durationMs: runElapsedMs(run, now),
    ...(current ? { currentStep: current } : {}),
    ...(run.incidentId ? { incidentId: run.incidentId } : {}),
  };
}

function renderList(entries: readonly RunListEntry[]): string {
  if (entries.length === 0) return 'No runs yet. Start one with `runbook run <runbook>`.\n';
  const rows = entries.map((e) => [
    e.id,
    e.runbook,
    e.currentStep ? `${e.status} (${e.currentStep.id} ${e.currentStep.status.replace(/_/g, ' ')})` : e.status,
    personName(e.requester),
    formatTime(Date.parse(e.startedAt)),
    formatElapsed(e.durationMs),
  ]);
  return `${renderTable([['RUN', 'RUNBOOK', 'STATUS', 'REQUESTER', 'STARTED', 'DURATION'], ...rows])}\n`;
}

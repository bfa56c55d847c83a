/**
 * The runbooks the bot can start, looked up by Slack command (`rollback`) or id
 * (`rollback-model`). Read at start and again, in the background, when the last read is older
 * than `maxAgeMs`; a failed read keeps the last good set. Reading files is injected (the CLI's
 * loader), so this module does no I/O of its own.
 */
import type { Runbook } from '../machines/ir.ts';
import type { LoadedRunbook } from '../machines/load.ts';
import { commandOf } from './arguments.ts';
import type { BotLogger } from './ports.ts';

/** A runbook ready to start: its file and source are what the engine pins on the run. */
export interface CatalogEntry {
  readonly file: string;
  readonly source: string;
  readonly runbook: Runbook;
}

/** Options of {@link createRunbookCatalog}. */
export interface RunbookCatalogOptions {
  /** Reads every runbook file (valid or not). */
  readonly load: () => Promise<readonly LoadedRunbook[]>;
  readonly logger: BotLogger;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Re-read the files when the last read is older than this. @default 30000 */
  readonly maxAgeMs?: number;
}

/** What `/readyz` reports about the runbooks. */
export interface CatalogStatus {
  readonly loaded: boolean;
  readonly count: number;
  /** Files that did not compile, left out. */
  readonly invalid: readonly string[];
  /** The last read's failure, when it failed. */
  readonly error?: string;
}

/** The startable runbooks. */
export interface RunbookCatalog {
  entries(): readonly CatalogEntry[];
  /** By Slack command (case-insensitive) or id. */
  find(name: string): CatalogEntry | undefined;
  /** Up to `max` known names (commands and ids) closest to `name`, best first. */
  closest(name: string, max?: number): string[];
  status(): CatalogStatus;
  /** Reads the files now. */
  reload(): Promise<void>;
  /** Starts a background re-read when the last one is older than `maxAgeMs`; never waits for it. */
  refreshIfStale(): void;
}

/** Creates the catalog and reads the runbooks once. */
export async function createRunbookCatalog(options: RunbookCatalogOptions): Promise<RunbookCatalog> {
  const clock = options.clock ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? 30_000;
  let entries: CatalogEntry[] = [];
  let byName = new Map<string, CatalogEntry>();
  let invalid: string[] = [];
  let error: string | undefined;
  let loadedAt: number | undefined;
  let reading: Promise<void> | undefined;

  const read = async () => {
    try {
      const loaded = await options.load();
      const valid = loaded.flatMap((l) => (l.runbook ? [{ file: l.file, source: l.source, runbook: l.runbook }] : []));
      invalid = loaded.filter((l) => !l.runbook).map((l) => l.file);
      if (invalid.length > 0) options.logger.warn({ files: invalid }, 'runbooks with errors are not startable from Slack; run `runbook lint`');
      byName = indexByName(valid, options.logger);
      entries = valid;
      error = undefined;
      loadedAt = clock();
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
      options.logger.error({ err: error }, 'could not read the runbooks; keeping the last good set');
    }
  };
  const reload = () => (reading ??= read().finally(() => (reading = undefined)));
  await reload();

  return {
    entries: () => entries,
    find: (name) => byName.get(name.toLowerCase()),
    closest: (name, max = 3) => closestNames(name, [...byName.keys()], max),
    status: () => ({ loaded: loadedAt !== undefined, count: entries.length, invalid, ...(error ? { error } : {}) }),
    reload,
    refreshIfStale: () => {
      if (loadedAt === undefined || clock() - loadedAt > maxAgeMs) void reload();
    },
  };
}

function indexByName(entries: readonly CatalogEntry[], logger: BotLogger): Map<string, CatalogEntry> {
  const byName = new Map<string, CatalogEntry>();
  // Ids first: a Slack command never hides another runbook's id.
  for (const entry of entries) byName.set(entry.runbook.id.toLowerCase(), entry);
  for (const entry of entries) {
    const command = commandOf(entry.runbook).toLowerCase();
    const holder = byName.get(command);
    if (holder && holder !== entry) {
      logger.warn({ command, kept: holder.file, ignored: entry.file }, 'two runbooks answer to the same Slack command; the first one wins');
      continue;
    }
    byName.set(command, entry);
  }
  return byName;
}

/** Names within a small edit distance of `name` (or containing it), closest first. */
export function closestNames(name: string, known: readonly string[], max: number): string[] {
  const wanted = name.toLowerCase();
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  return known
    .map((candidate) => ({ candidate, distance: editDistance(wanted, candidate) }))
    .filter(({ candidate, distance }) => distance <= limit || (wanted.length >= 3 && (candidate.includes(wanted) || wanted.includes(candidate))))
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, max)
    .map(({ candidate }) => candidate);
}

/** Levenshtein distance with adjacent transpositions (`rollbakc` → `rollback` is 1). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i += 1) {
    const row = rows[i] ?? [];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

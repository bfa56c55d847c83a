/**
 * Finding and reading runbook files for the CLI: folders are searched for `*.md`, a runbook can
 * be named by path or by id (looked up in `RUNBOOKS_DIR`).
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { loadRunbook, type LoadedRunbook } from '../machines/load.ts';
import type { ExecutorCatalog } from '../machines/executor-spec.ts';
import { CliError } from './cli-error.ts';

/** Files larger than this are not even read into memory; the compiler's own cap is lower. */
const MAX_READ_BYTES = 64 * 1024 * 1024;

export async function collectRunbookFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new CliError('runbook_not_found', `no such file or folder: ${path}`);
    if (info.isDirectory()) files.push(...(await walk(path)));
    else files.push(path);
  }
  return files;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else if (/\.(md|markdown)$/i.test(entry.name) && !/^readme\.md$/i.test(entry.name)) out.push(full);
  }
  return out;
}

export async function readRunbookFile(file: string, catalog: ExecutorCatalog): Promise<LoadedRunbook> {
  const info = await stat(file);
  const shown = displayPath(file);
  if (info.size > MAX_READ_BYTES) {
    // Not even read: hand the compiler a prefix, whose size check reports the file as too large.
    const handle = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(MAX_READ_BYTES), 0, MAX_READ_BYTES, 0);
      return loadRunbook(shown, buffer.subarray(0, bytesRead).toString('utf8'), catalog);
    } finally {
      await handle.close();
    }
  }
  return loadRunbook(shown, (await readFile(file)).toString('utf8'), catalog);
}

/** Finds a runbook by path, or by id (file name or front-matter id) in the runbooks folder. */
export async function resolveRunbook(nameOrPath: string, runbooksDir: string, catalog: ExecutorCatalog): Promise<LoadedRunbook> {
  const asPath = await stat(nameOrPath).catch(() => undefined);
  if (asPath?.isFile()) return readRunbookFile(nameOrPath, catalog);
  const files = await collectRunbookFiles([runbooksDir]).catch(() => []);
  const loaded = await Promise.all(files.map((file) => readRunbookFile(file, catalog)));
  const match = loaded.find((r) => r.draft.id === nameOrPath || r.draft.triggers.slack?.command === nameOrPath);
  if (match) return match;
  const known = loaded.map((r) => r.draft.id);
  throw new CliError('runbook_not_found', `unknown runbook \`${nameOrPath}\`${suggest(nameOrPath, known)} (runbooks in ${displayPath(runbooksDir)}: ${known.join(', ') || 'none'})`);
}

function suggest(name: string, known: readonly string[]): string {
  const close = known.filter((k) => k.includes(name) || name.includes(k));
  return close.length > 0 ? `; did you mean ${close.map((c) => `\`${c}\``).join(' or ')}?` : '';
}

export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

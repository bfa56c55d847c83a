/**
 * `npm run bench`: every figure the project measures, in one table, each with how it was measured.
 * Timing goals live here, not in tests (DEVELOPERS.md).
 */
import { benchCompile } from './compile.ts';
import { benchEngine } from './engine.ts';
import { printTable } from './stats.ts';

const sections: [string, () => Promise<Parameters<typeof printTable>[1]> | Parameters<typeof printTable>[1]][] = [
  ['Compiler', benchCompile],
  ['Engine', benchEngine],
];

console.log(`# Runbook Bot benchmarks (node ${process.version}, ${new Date().toISOString()})`);
for (const [title, run] of sections) printTable(title, await run());

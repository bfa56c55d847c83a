/** Small helpers shared by the benchmarks: percentiles and a printed table. */

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function summarize(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

export interface Figure {
  readonly name: string;
  readonly value: string;
  readonly how: string;
}

export function printTable(title: string, figures: readonly Figure[]): void {
  const width = Math.max(...figures.map((f) => f.name.length), 10);
  const valueWidth = Math.max(...figures.map((f) => f.value.length), 10);
  console.log(`\n## ${title}\n`);
  console.log(`| ${'figure'.padEnd(width)} | ${'value'.padEnd(valueWidth)} | how it was measured |`);
  console.log(`| ${'-'.repeat(width)} | ${'-'.repeat(valueWidth)} | --- |`);
  for (const f of figures) console.log(`| ${f.name.padEnd(width)} | ${f.value.padEnd(valueWidth)} | ${f.how} |`);
}

export const ms = (value: number) => `${value < 1 ? value.toFixed(3) : value.toFixed(2)} ms`;
export const us = (valueMs: number) => `${(valueMs * 1000).toFixed(1)} µs`;

/**
 * `npm run bench`: every figure the project measures, in one table, each with how it was measured.
 * Timing goals live here, not in tests (DEVELOPERS.md).
 */
import { benchCompile } from './compile.ts';
import { benchEngine } from './engine.ts';
import { benchExecutors } from './executors.ts';
import { benchSlack } from './slack.ts';
import { benchSla } from './sla.ts';
import { benchWebhook } from './webhook.ts';
import { benchAudit } from './audit.ts';
import { printTable, type Figure } from './stats.ts';

// BENCH=executors,compiler runs only those sections.
const only = process.env['BENCH']?.toLowerCase().split(',');
const sections: [string, () => Promise<Parameters<typeof printTable>[1]> | Parameters<typeof printTable>[1]][] = [
  ['Compiler', benchCompile],
  ['Engine', benchEngine],
  ['Executors', benchExecutors],
  ['Slack', benchSlack],
  ['Audit', benchAudit],
  ['Webhook', benchWebhook],
  ['SLA', benchSla],
];

console.log(`# Runbook Bot benchmarks (node ${process.version}, ${new Date().toISOString()})`);
const all: Figure[] = [];
for (const [title, run] of sections) {
  if (only && !only.includes(title.toLowerCase())) continue;
  // Each section prints as it finishes (a long run shows progress); the summary below has them all.
  const figures = await run();
  printTable(title, figures);
  all.push(...figures.map((f) => ({ ...f, name: `${title}: ${f.name}` })));
}
printTable('All figures', all);

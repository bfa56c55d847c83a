/**
 * Child process for the multi-process test: opens the audit store at argv[2], prints "ready",
 * waits for "go" on stdin (so every worker contends for the lock at once), appends argv[4] records
 * with ids `worker-<argv[3]>.<n>`, one append per record, and exits 0 (1 on any failure).
 */
import { once } from 'node:events';
import { openSqliteAuditStore } from '../../../src/audit/sqlite-store.ts';

const [path, worker, countText] = process.argv.slice(2);
if (path === undefined || worker === undefined || countText === undefined) {
  process.stderr.write('usage: append-worker.ts <path> <worker> <count>\n');
  process.exit(2);
}

const store = openSqliteAuditStore({ path });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.pause();

for (let n = 1; n <= Number(countText); n += 1) {
  await store.append([{ id: `worker-${worker}.${n}`, at: Date.now(), runId: `run-${worker}`, actor: 'system', type: 'step.succeeded', data: { worker, n } }]);
}
await store.close();

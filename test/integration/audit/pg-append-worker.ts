/**
 * Child process for the PostgreSQL multi-process test: opens the store in schema argv[3] of
 * database argv[2], prints "ready", waits for "go", appends argv[5] records `worker-<argv[4]>.<n>`
 * (one append each, every 50th a batch ending a run, so run-end digests interleave), exits 0.
 */
import { once } from 'node:events';
import { parseDigestKey } from '../../../src/audit/digest.ts';
import { openPostgresAuditStore } from '../../../src/audit/postgres-store.ts';

const [databaseUrl, schema, worker, countText, signingKey] = process.argv.slice(2);
if (!databaseUrl || !schema || !worker || !countText || !signingKey) {
  process.stderr.write('usage: pg-append-worker.ts <url> <schema> <worker> <count> <signing key>\n');
  process.exit(2);
}

const store = await openPostgresAuditStore({ databaseUrl, schema, poolSize: 2, signingKey: parseDigestKey(signingKey) });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.pause();

for (let n = 1; n <= Number(countText); n += 1) {
  const type = n % 50 === 0 ? 'run.finished' : 'step.succeeded';
  await store.append([{ id: `worker-${worker}.${n}`, at: Date.now(), runId: `run-${worker}`, actor: 'system', type, data: { worker, n, status: 'succeeded' } }]);
}
await store.close();

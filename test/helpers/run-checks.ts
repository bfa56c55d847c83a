/**
 * Checks shared by the scale tests (test/integration/engine/scale.test.ts, test/integration/scale/):
 * waiting for many runs at once, and what a complete audit trail of a run of `record` steps is.
 */
import type { Redis } from 'ioredis';
import type { AuditRecord } from '../../src/audit/index.ts';
import type { EngineKeys } from '../../src/engine/keys.ts';
import { sleep } from './processes.ts';

/**
 * Everything wrong with one run's audit trail (empty when it is complete), for a readable failure:
 * `run.started` is the one first record, `run.finished` the one last, and each of `stepIds` was
 * started and succeeded exactly once, in order, on its first attempt (a redelivered job adds none).
 */
export function auditTrailProblems(runId: string, records: readonly AuditRecord[], stepIds: readonly string[]): string[] {
  const types = records.map((r) => r.type);
  const attempts = (type: string) => records.filter((r) => r.type === type).map((r) => {
    const data = r.data as { stepId: string; attempt: number; phase?: string };
    return `${data.stepId}/${data.phase ?? 'do'}/${data.attempt}`;
  });
  const expected = stepIds.map((id) => `${id}/do/1`);
  const problems = [
    types[0] === 'run.started' && types.filter((x) => x === 'run.started').length === 1 ? '' : 'run.started is not the one first record',
    types.at(-1) === 'run.finished' && types.filter((x) => x === 'run.finished').length === 1 ? '' : 'run.finished is not the one last record',
    JSON.stringify(attempts('step.started')) === JSON.stringify(expected) ? '' : `step.started: ${attempts('step.started').join(', ')}`,
    JSON.stringify(attempts('step.succeeded')) === JSON.stringify(expected) ? '' : `step.succeeded: ${attempts('step.succeeded').join(', ')}`,
  ];
  return problems.filter(Boolean).map((p) => `${runId}: ${p}`);
}

/** Groups audit records by run id, keeping only the runs in `runIds`, in seq order. */
export function recordsByRun(records: Iterable<AuditRecord>, runIds: ReadonlySet<string>): Map<string, AuditRecord[]> {
  const byRun = new Map<string, AuditRecord[]>();
  for (const record of records) {
    if (!record.runId || !runIds.has(record.runId)) continue;
    const list = byRun.get(record.runId) ?? [];
    list.push(record);
    byRun.set(record.runId, list);
  }
  return byRun;
}

/**
 * Resolves once every run in `runIds` has finished (status no longer `active`) and its outbox is
 * drained (its audit trail complete), polling them all in one pipeline; rejects after `timeoutMs`
 * naming a few that are not.
 */
export async function waitForRunsSettled(redis: Redis, keys: Pick<EngineKeys, 'run' | 'outbox'>, runIds: readonly string[], timeoutMs: number, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pipeline = redis.pipeline();
    for (const id of runIds) pipeline.hget(keys.run(id), 'status').llen(keys.outbox(id));
    const replies = (await pipeline.exec()) ?? [];
    const pending = runIds.filter((_, i) => replies[2 * i]?.[1] === 'active' || replies[2 * i + 1]?.[1] !== 0);
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending.length} of ${runIds.length} runs still unfinished after ${timeoutMs} ms, e.g. ${pending.slice(0, 3).join(', ')}`);
    await sleep(pollMs);
  }
}

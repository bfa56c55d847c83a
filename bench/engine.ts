/**
 * Engine figures, in one run on the machine's Redis under a fresh key prefix (every key deleted at
 * the end): step throughput through the engine against raw BullMQ jobs, transition latency, the
 * time a killed worker's step takes to be redelivered, and the Redis memory an idle run holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { auditStorePath, openSqliteAuditStore, type AuditStore } from '../src/audit/index.ts';
import type { Executor } from '../src/executors/contract.ts';
import { createExecutorCatalog } from '../src/executors/specs.ts';
import { TEST_EXECUTOR_SPECS } from '../src/executors/testing.ts';
import { stepJobId } from '../src/engine/dispatcher.ts';
import type { EngineLogger } from '../src/engine/engine.ts';
import { newRunId } from '../src/engine/ids.ts';
import { STEP_JOB_OPTIONS } from '../src/engine/queues.ts';
import { createRuntime, type Runtime, type RuntimeOptions } from '../src/engine/runtime.ts';
import { createRedisConnection } from '../src/integrations/redis.ts';
import type { ExecutorSpec } from '../src/machines/executor-spec.ts';
import type { RunEvent } from '../src/machines/run-types.ts';
import { ms, summarize, type Figure } from './stats.ts';

const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const BIN = new URL('../bin/runbook.mjs', import.meta.url).pathname;
const quiet: EngineLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const approver = { id: 'UBENCHAPPROVER', groups: ['@bench-approvers'] };
const requester = { id: 'UBENCH' };

/** A call that does nothing and writes nothing: what is measured is the engine, not an executor. */
const NOOP_SPEC: ExecutorSpec = { name: 'noop', summary: 'Does nothing (benchmarks).', kind: 'call', mutating: false, args: z.strictObject({}) };
const noop: Executor = { spec: NOOP_SPEC, run: async () => ({}) };
const catalog = createExecutorCatalog([...TEST_EXECUTOR_SPECS, NOOP_SPEC]);

const STEPS_PER_RUN = 5;
const THROUGHPUT_RUNS = 200;
const IDLE_RUNS = 500;
const LATENCY_RUNS = 200;
const KILL_TRIALS = 3;

const noopRunbook = `# Bench no-op\n${Array.from({ length: STEPS_PER_RUN }, (_, i) => `\n## Step ${i + 1} {#s${i + 1}}\n\`\`\`noop\n\`\`\`\n`).join('')}`;
const idleRunbook = `---
params:
  service: { type: string, pattern: "^[a-z0-9-]+$" }
---
# Bench idle run

## Approve {#approve}
\`\`\`approve
message: "Restart {{ params.service }}?"
from: ["@bench-approvers"]
expires: 1h
\`\`\`

## Work {#work}
\`\`\`noop
\`\`\`

## Check {#check}
\`\`\`noop
\`\`\`
`;
const slowRunbook = `# Bench slow step\n\n## Slow {#slow}\n\`\`\`slow\nms: 60000\ntimeout: 2m\n\`\`\`\n`;

interface Bench {
  readonly base: string;
  readonly dataDir: string;
  readonly audit: AuditStore;
  readonly redis: Redis;
  /** Milliseconds of every `audit.append` the in-process engines made (one per drained transition). */
  readonly appendMs: number[];
  runtime(name: string, options?: Partial<RuntimeOptions>): Promise<Runtime>;
}

export async function benchEngine(): Promise<Figure[]> {
  const bench = await openBench();
  const children = new Set<ChildProcess>();
  try {
    const throughput = await benchThroughput(bench);
    const idle = await benchIdleRuns(bench);
    const killed = await benchKilledWorker(bench, children);
    return [...throughput, ...idle, killed];
  } finally {
    await Promise.all([...children].map((child) => stopChild(child)));
    await bench.close();
  }
}

async function openBench(): Promise<Bench & { close(): Promise<void> }> {
  const base = `bench-${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'runbook-bench-'));
  const store = openSqliteAuditStore({ path: auditStorePath(dataDir) });
  const appendMs: number[] = [];
  // Timing wrapper: how much of a transition is the audit append (fsync'd, synchronous=FULL).
  const audit: AuditStore = {
    append: async (records) => {
      const started = performance.now();
      const stored = await store.append(records);
      appendMs.push(performance.now() - started);
      return stored;
    },
    appendDigest: (options) => store.appendDigest(options),
    list: (filter) => store.list(filter),
    stream: (filter) => store.stream(filter),
    runs: (filter) => store.runs(filter),
    get: (seq) => store.get(seq),
    head: () => store.head(),
    verify: () => store.verify(),
    close: () => store.close(),
  };
  const redis = createRedisConnection(REDIS_URL, { role: 'command', connectionName: 'runbook-bench' });
  const runtimes: Runtime[] = [];
  return {
    base, dataDir, audit, redis, appendMs,
    async runtime(name, options = {}) {
      const runtime = await createRuntime({ redisUrl: REDIS_URL, prefix: `${base}.${name}`, audit, catalog, executors: new Map([[noop.spec.name, noop]]), logger: quiet, reconciler: false, ...options });
      runtimes.push(runtime);
      return runtime;
    },
    async close() {
      await Promise.all(runtimes.map((r) => r.close()));
      await audit.close();
      await deleteKeys(redis, `${base}*`);
      await redis.quit();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  for (const keys of await scanKeys(redis, pattern)) if (keys.length > 0) await redis.unlink(...keys);
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[][]> {
  const batches: string[][] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    batches.push(keys);
    cursor = next;
  } while (cursor !== '0');
  return batches;
}

const sleep = (msToWait: number) => new Promise((resolve) => setTimeout(resolve, msToWait));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench: ${what} did not happen within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

// ── 1. throughput ────────────────────────────────────────────────────────────────────────────

/** Resolves when each watched run is no longer active, from the engine's updates channel (no polling). */
async function watchRuns(runtime: Runtime) {
  const subscriber = runtime.subscriber();
  const waiting = new Map<string, () => void>();
  subscriber.on('message', (_channel: string, runId: string) => {
    const done = waiting.get(runId);
    if (!done) return;
    void runtime.redis.hget(runtime.keys.run(runId), 'status').then((status) => {
      if (status && status !== 'active' && waiting.delete(runId)) done();
    });
  });
  await subscriber.subscribe(runtime.keys.updatesChannel);
  return {
    finished: (runId: string) => new Promise<void>((resolve) => waiting.set(runId, resolve)),
    close: () => subscriber.quit().then(() => undefined),
  };
}

async function driveNoopRuns(runtime: Runtime, runs: number): Promise<number> {
  const watcher = await watchRuns(runtime);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: runs }, async () => {
      const runId = newRunId();
      const finished = watcher.finished(runId);
      await runtime.engine.startRun({ file: 'bench-noop.md', source: noopRunbook, params: {}, requester, runId });
      await finished;
    }),
  );
  const elapsed = performance.now() - started;
  await watcher.close();
  return elapsed;
}

async function driveRawJobs(base: string, jobs: number, warmUp: number): Promise<number> {
  const producer = createRedisConnection(REDIS_URL, { role: 'command', connectionName: 'runbook-bench:raw-queue' });
  const consumer = createRedisConnection(REDIS_URL, { role: 'worker', connectionName: 'runbook-bench:raw-worker' });
  const prefix = `${base}.raw:bull`;
  const queue = new Queue('steps', { connection: producer, prefix });
  const worker = new Worker('steps', async () => ({}), { connection: consumer, prefix, concurrency: 8 });
  let completed = 0;
  worker.on('completed', () => (completed += 1));
  await worker.waitUntilReady();
  const add = (n: number, tag: string) =>
    Promise.all(Array.from({ length: n }, (_, i) => queue.add('step', { runId: tag, stepId: `s${i}`, phase: 'do', attempt: 1, executor: 'noop', input: {}, idempotencyKey: `${tag}/${i}` }, { ...STEP_JOB_OPTIONS, jobId: `${tag}-${i}` })));
  await add(warmUp, 'warm');
  await until('raw warm-up jobs', 30_000, async () => (completed >= warmUp ? true : undefined));
  completed = 0;
  const started = performance.now();
  await add(jobs, 'timed');
  await until('raw jobs', 60_000, async () => (completed >= jobs ? true : undefined), 2);
  const elapsed = performance.now() - started;
  await worker.close();
  await queue.close();
  await Promise.all([producer.quit(), consumer.quit()]);
  return elapsed;
}

async function benchThroughput(bench: Bench): Promise<Figure[]> {
  const runtime = await bench.runtime('tp', { workers: { steps: true, notify: true }, workerSettings: { concurrency: 8 } });
  await driveNoopRuns(runtime, 20); // warm-up: JIT, compile cache, connections
  bench.appendMs.length = 0;
  const engineMs = await driveNoopRuns(runtime, THROUGHPUT_RUNS);
  const appends = summarize(bench.appendMs);
  await runtime.close();
  const steps = THROUGHPUT_RUNS * STEPS_PER_RUN;
  const rawMs = await driveRawJobs(bench.base, steps, 100);
  const engineRate = steps / (engineMs / 1000);
  const rawRate = steps / (rawMs / 1000);
  const setup = `one process, ${availableParallelism()} CPUs, Redis ${new URL(REDIS_URL).host}, step worker concurrency 8`;
  const engineHow = `${THROUGHPUT_RUNS} runs × ${STEPS_PER_RUN} no-op \`call\` steps (non-mutating, no timeout), all runs started at once, timed from the first startRun to the last run finished (${ms(engineMs)}); ${setup}, notify worker no-op. Each step = job + load/transition/Lua commit + audit append + dispatch; ${bench.appendMs.length} audit appends, each one SQLite BEGIN IMMEDIATE txn in WAL with synchronous=FULL (fsync per transition): p50 ${ms(appends.p50)}, p99 ${ms(appends.p99)}`;
  const rawHow = `${steps} jobs (StepJob-shaped data, the engine's step job options) added at once with queue.add, Worker concurrency 8 with an empty processor, timed from the first add to the last \`completed\` (${ms(rawMs)}); 100-job warm-up; same process and Redis`;
  return [
    { name: 'no-op steps through the engine', value: `${engineRate.toFixed(0)} steps/s`, how: engineHow },
    { name: 'raw BullMQ jobs, same shape', value: `${rawRate.toFixed(0)} jobs/s`, how: rawHow },
    { name: 'engine / raw BullMQ throughput', value: `${(engineRate / rawRate).toFixed(2)}×`, how: 'ratio of the two rows above: the price of durable transitions and the write-ahead audit per step' },
  ];
}

// ── 2 + 4. idle runs: Redis memory, then transition latency on them ──────────────────────────

async function startIdleRuns(runtime: Runtime, count: number, parallel = 16): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - i) }, (_, j) =>
        runtime.engine.startRun({ file: 'bench-idle.md', source: idleRunbook, params: { service: `svc-${i + j}` }, requester }),
      ),
    );
    ids.push(...batch.map((run) => run.id));
  }
  return ids;
}

async function memoryByKey(redis: Redis, pattern: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const keys of await scanKeys(redis, pattern)) {
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', 0);
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => sizes.set(key, Number(replies[i]?.[1] ?? 0)));
  }
  return sizes;
}

async function benchIdleMemory(bench: Bench, runtime: Runtime): Promise<{ ids: string[]; figure: Figure }> {
  const pattern = `${runtime.keys.prefix}:*`;
  const before = await memoryByKey(bench.redis, pattern);
  const ids = await startIdleRuns(runtime, IDLE_RUNS);
  // Notify jobs (the approval request) are sent and removed, as a notify worker does in production.
  await until('the notify queue to drain', 30_000, async () => {
    const counts = await runtime.queues.notify.getJobCounts('wait', 'active', 'prioritized');
    return Object.values(counts).every((n) => n === 0) ? true : undefined;
  }, 50);
  const after = await memoryByKey(bench.redis, pattern);
  const runSet = new Set(ids);
  const perRun = { hash: 0, outbox: 0, jobs: 0, jobKeys: 0 };
  let shared = 0;
  let streams = 0;
  for (const [key, bytes] of after) {
    const runId = /[0-9A-HJKMNP-TV-Z]{26}/.exec(key)?.[0];
    if (runId && runSet.has(runId)) {
      if (key === runtime.keys.run(runId)) perRun.hash += bytes;
      else if (key === runtime.keys.outbox(runId)) perRun.outbox += bytes;
      else {
        perRun.jobs += bytes;
        perRun.jobKeys += 1;
      }
    } else if (key.endsWith(':events')) streams += bytes;
    else shared += bytes - (before.get(key) ?? 0);
  }
  const n = ids.length;
  const total = (perRun.hash + perRun.outbox + perRun.jobs + shared) / n;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;
  return {
    ids,
    figure: {
      name: 'Redis memory per idle run',
      value: `${kib(total)}/run`,
      how: `${n} runs of a 3-step runbook (${Buffer.byteLength(idleRunbook)} B source, pinned in the run hash) stopped at an approval (expires 1h → one delayed timer job each); MEMORY USAGE … SAMPLES 0 on every key of the prefix after the notify queue drained: run hash ${kib(perRun.hash / n)}, outbox ${kib(perRun.outbox / n)}, BullMQ job keys ${kib(perRun.jobs / n)} (${(perRun.jobKeys / n).toFixed(1)} keys/run), growth of shared indexes (runs, outbox-pending, delayed zsets) ${kib(shared / n)}; BullMQ event streams (${kib(streams)} in all, capped per queue) excluded`,
    },
  };
}

async function timedSend(runtime: Runtime, runId: string, event: RunEvent, samples: number[]): Promise<void> {
  const started = performance.now();
  const result = await runtime.engine.send(runId, event);
  samples.push(performance.now() - started);
  if (!result.applied) throw new Error(`bench: ${event.type} on run ${runId} was not applied (${result.reason ?? 'no reason'})`);
}

async function benchLatency(bench: Bench, runtime: Runtime, ids: readonly string[]): Promise<Figure[]> {
  const granted: number[] = [];
  const succeeded: number[] = [];
  bench.appendMs.length = 0;
  for (const runId of ids.slice(0, LATENCY_RUNS)) {
    await timedSend(runtime, runId, { type: 'approval.granted', stepId: 'approve', by: approver }, granted);
    // The bench plays the step worker: report each call's result the way a worker would.
    for (const stepId of ['work', 'check']) await timedSend(runtime, runId, { type: 'step.succeeded', stepId, attempt: 1, phase: 'do', output: {} }, succeeded);
  }
  const g = summarize(granted);
  const s = summarize(succeeded);
  const a = summarize(bench.appendMs);
  const common = `engine.send() in-process, one at a time on otherwise idle runs (a no-op notify worker running), timed to its return: load run → transition → Lua commit → drain (audit append, fsync'd) → dispatch → publish → reload`;
  return [
    { name: 'transition latency, approval.granted (p50 / p99)', value: `${ms(g.p50)} / ${ms(g.p99)}`, how: `${g.n} grants on runs waiting at an approval gate; effects: cancel the expiry timer job, enqueue the next step job, notify jobs; ${common}; max ${ms(g.max)}` },
    { name: 'transition latency, step.succeeded (p50 / p99)', value: `${ms(s.p50)} / ${ms(s.p99)}`, how: `${s.n} step results (half start the next step, half finish the run); ${common}; max ${ms(s.max)}; audit append alone over both rows: p50 ${ms(a.p50)}, p99 ${ms(a.p99)}` },
  ];
}

async function benchIdleRuns(bench: Bench): Promise<Figure[]> {
  const runtime = await bench.runtime('idle', { workers: { notify: true } });
  const memory = await benchIdleMemory(bench, runtime);
  const latency = await benchLatency(bench, runtime, memory.ids);
  await runtime.close();
  return [...latency, memory.figure];
}

// ── 3. killed worker ─────────────────────────────────────────────────────────────────────────

function spawnWorker(bench: Bench, prefix: string, children: Set<ChildProcess>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: { ...process.env, REDIS_URL, RUNBOOK_REDIS_PREFIX: prefix, DATA_DIR: bench.dataDir, RUNBOOK_TEST_EXECUTORS: '1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: worker ${child.pid} not ready in 30 s:\n${log}`)), 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4_000);
      if (log.includes('"worker ready"')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench: worker exited with ${code} before it was ready:\n${log}`));
    });
  });
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function exited(child: ChildProcess): Promise<void> {
  return hasExited(child) ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM (drains in-flight work), then SIGKILL if it has not exited in 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited(child);
  clearTimeout(timer);
}

async function attemptsStarted(runtime: Runtime, jobId: string): Promise<number> {
  return (await runtime.queues.steps.getJob(jobId))?.attemptsStarted ?? 0;
}

async function killOnce(bench: Bench, runtime: Runtime, victim: ChildProcess, children: Set<ChildProcess>) {
  const run = await runtime.engine.startRun({ file: 'bench-slow.md', source: slowRunbook, params: {}, requester });
  const jobId = stepJobId(run.id, 'slow', 'do', 1);
  const before = await until('the slow step to start', 15_000, async () => {
    const n = await attemptsStarted(runtime, jobId);
    return n > 0 ? n : undefined;
  });
  await sleep(300); // the executor is well into its call
  const killedAt = performance.now();
  victim.kill('SIGKILL');
  await exited(victim);
  const replacement = spawnWorker(bench, runtime.keys.prefix, children);
  const readyMs = replacement.then(() => performance.now() - killedAt);
  await until('the step to be redelivered', 30_000, async () => ((await attemptsStarted(runtime, jobId)) > before ? true : undefined), 5);
  const resumedMs = performance.now() - killedAt;
  // Let the next trial start clean: cancelling aborts the redelivered call in the replacement.
  await runtime.engine.send(run.id, { type: 'run.cancel', by: requester, reason: 'bench trial over' });
  return { resumedMs, readyMs: await readyMs, worker: await replacement };
}

async function benchKilledWorker(bench: Bench, children: Set<ChildProcess>): Promise<Figure> {
  const runtime = await bench.runtime('kill', { workers: {} });
  let worker = await spawnWorker(bench, runtime.keys.prefix, children);
  const resumed: number[] = [];
  const ready: number[] = [];
  for (let trial = 0; trial < KILL_TRIALS; trial += 1) {
    const outcome = await killOnce(bench, runtime, worker, children);
    resumed.push(outcome.resumedMs);
    ready.push(outcome.readyMs);
    worker = outcome.worker;
  }
  await stopChild(worker);
  await runtime.close();
  const r = summarize(resumed);
  return {
    name: 'killed worker → step redelivered (median)',
    value: `${(r.p50 / 1000).toFixed(2)} s`,
    how: `${KILL_TRIALS} trials: \`runbook worker\` process (default settings: lockDuration 5 s, stalledInterval 1 s) running a \`slow\` step is SIGKILLed 300 ms into the call; a replacement worker is spawned at once (ready after ${ready.map((x) => (x / 1000).toFixed(1)).join(' / ')} s); timed from the kill to the job's attemptsStarted going up (polled every 5 ms), i.e. the lock's remaining life (taken ~0.3 s before the kill) + the next stalled check. All trials: ${resumed.map((x) => (x / 1000).toFixed(2)).join(' / ')} s`,
  };
}

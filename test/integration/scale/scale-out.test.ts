/**
 * Scale-out (issue 8, DESIGN.md §5 "each scales horizontally against one Redis"): 2 `runbook web`
 * and 3 `runbook worker` processes share one Redis key prefix (hash-tagged, as on Redis Cluster)
 * and one PostgreSQL audit schema. SCALE_RUNS (default 500) signed slash commands are spread over
 * both web processes; part-way a worker is SIGKILLed inside a step and a replacement started; some deliveries
 * are resent, as Slack retries them, to the other web process. Then: one run per command, none
 * lost, none doubled, every step's side effect applied once (the killed worker's interrupted calls
 * included), every audit trail complete and the
 * shared chain unforked and verified, and every worker took a share.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord, AuditStore } from '../../../src/audit/index.ts';
import { openPostgresAuditStore } from '../../../src/audit/postgres-store.ts';
import { engineKeys } from '../../../src/engine/keys.ts';
import { RunStore, type RunRecord } from '../../../src/engine/run-store.ts';
import { createTestExecutors } from '../../../src/executors/testing.ts';
import { startSlackStandIn, type SlackStandIn } from '../../../src/sandbox/slack.ts';
import { createSlackRequestSender, type SlackRequestSender } from '../../../src/sandbox/slack-requests.ts';
import { REDIS_URL } from '../../helpers/engine.ts';
import { freePort, startWebProcess, startWorkerProcess, stopAllProcesses, type WebProcess, type WorkerEnv, type WorkerProcess } from '../../helpers/processes.ts';
import { auditTrailProblems, recordsByRun, waitForRunsSettled } from '../../helpers/run-checks.ts';
import { TEST_DATABASE_URL } from '../audit/backends.ts';
import { sendSlashCommands, type SlashOutcome } from './slash-load.ts';

const RUNS = Number(process.env['SCALE_RUNS'] ?? 500);
/** A worker is killed once this many runs have started. */
const KILL_AFTER = Math.max(1, Math.round(RUNS * 0.3));
const RESENDS = Math.min(20, RUNS);
const IN_FLIGHT = 20;
const STEP_IDS = ['check', 'change', 'confirm'] as const;
const SECRET = 'scale-signing-secret';
const TOKEN = 'xoxb-test-token';
const CHANNEL = 'C0MLINC001';
const ALICE = { userId: 'U0REQUEST1', userName: 'alice' };
const fence = '```';
/** `change` takes 200 ms (the `slow` executor), so a killed worker is likely to be inside a call. */
const RUNBOOK = `---
id: drill
title: Scale-out drill
params:
  target: { type: string, pattern: "^[a-z0-9-]+$" }
triggers: { slack: "drill <target>" }
---
# Scale-out drill

## check {#check}
${fence}record
label: "check {{ params.target }}"
timeout: 60s
${fence}

## change {#change}
${fence}slow
ms: 200
label: "change {{ params.target }}"
timeout: 60s
${fence}

## confirm {#confirm}
${fence}record
label: "confirm {{ params.target }}"
timeout: 60s
${fence}
`;

/** Why PostgreSQL cannot be used here, or `undefined` when it can. */
async function postgresProblem(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${new URL(url).host} is unreachable (${error instanceof Error ? error.message : String(error)}); set TEST_DATABASE_URL or start it to run the scale-out test`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const pgProblem = await postgresProblem(TEST_DATABASE_URL);
if (pgProblem) console.warn(`[scale-out] skipped: ${pgProblem}`);

const targetOf = (i: number) => `t-${i}`;
const stepKeys = (runIds: Iterable<string>) => [...runIds].flatMap((id) => STEP_IDS.map((step) => `${id}/${step}/do/1`)).sort();
const finishedBy = (worker: WorkerProcess) => worker.logs().filter((line) => line.msg === 'run finished').map((line) => String(line['runId']));
const ignoredRepeats = (web: WebProcess) => web.logs().filter((line) => line.msg === 'ignored a repeated delivery of a slash command (a Slack retry)').length;

describe.skipIf(pgProblem !== undefined)('web and worker processes scaled out on one Redis and one PostgreSQL audit store', () => {
  const prefix = `{scale-${randomBytes(4).toString('hex')}}`;
  const schema = `scale_${randomBytes(6).toString('hex')}`;
  const keys = engineKeys(prefix);
  let dir: string;
  let slack: SlackStandIn;
  let senders: SlackRequestSender[] = [];
  let webs: WebProcess[] = [];
  let workers: WorkerProcess[] = [];
  const killed: WorkerProcess[] = [];
  let redis: Redis;
  let audit: AuditStore | undefined;
  let outcomes: SlashOutcome[] = [];
  let resent: { status: number }[] = [];
  let runs: RunRecord[] = [];

  const executorState = () => createTestExecutors(redis, prefix).state;

  /** Keys of `change` calls that have started and not applied their effect yet. */
  async function changeCallsInFlight(): Promise<Set<string>> {
    const { calls, effects } = executorState();
    const [called, applied] = await Promise.all([calls(), effects()]);
    const done = new Set(applied.map((e) => e.key));
    return new Set(called.filter((c) => c.started && !done.has(c.key)).map((c) => c.key));
  }

  /**
   * SIGKILLs the oldest running worker and starts a replacement, again (at most 3 times) until a
   * kill has caught a `change` call mid-flight: a call in flight at the kill that is still
   * unfinished 1.5 s later was the dead worker's (the others finish theirs in 200 ms; its job is
   * redelivered only once its 5 s lock lapses). Usually the first kill does.
   */
  async function killWorkersUntilOneIsCaughtMidCall(startWorker: (n: number) => Promise<WorkerProcess>): Promise<void> {
    for (let round = 0; round < 3; round += 1) {
      const victim = workers.find((w) => w.isRunning());
      if (!victim) throw new Error('no worker left to kill');
      await victim.kill('SIGKILL');
      killed.push(victim);
      const inFlight = await changeCallsInFlight();
      const replacement = startWorker(workers.length + 1);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const stuck = [...(await changeCallsInFlight())].filter((key) => inFlight.has(key));
      workers.push(await replacement);
      if (stuck.length > 0) return;
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-scale-'));
    mkdirSync(join(dir, 'runbooks'));
    writeFileSync(join(dir, 'runbooks', 'drill.md'), RUNBOOK);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    slack = await startSlackStandIn({ tokens: [TOKEN] });
    const shared = {
      REDIS_URL, RUNBOOK_REDIS_PREFIX: prefix, DATA_DIR: join(dir, 'var'), RUNBOOK_TEST_EXECUTORS: '1',
      DATABASE_URL: TEST_DATABASE_URL, AUDIT_DATABASE_SCHEMA: schema, POLICY_FILE: join(dir, 'no-policy.yaml'),
    } as const satisfies WorkerEnv;
    const startWorker = (n: number) => startWorkerProcess(shared, { name: `worker ${n}` });
    const startWeb = async (n: number) => startWebProcess({
      ...shared, RUNBOOKS_DIR: join(dir, 'runbooks'), SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: slack.url, PORT: String(await freePort()),
    }, { name: `web ${n}` });
    // All at once: they race to create the audit schema (the store takes an advisory lock for it).
    [workers, webs] = await Promise.all([Promise.all([1, 2, 3].map(startWorker)), Promise.all([1, 2].map(startWeb))]);
    senders = await Promise.all(webs.map((web) => createSlackRequestSender({ url: web.slackEventsUrl, signingSecret: SECRET, timeoutMs: 30_000 })));

    const startedAt = Date.now();
    let killing: Promise<void> | undefined;
    outcomes = await sendSlashCommands({
      senders, texts: Array.from({ length: RUNS }, (_, i) => `drill ${targetOf(i)}`), user: ALICE, channelId: CHANNEL, inFlight: IN_FLIGHT,
      onStarted: (count) => {
        if (count !== KILL_AFTER) return;
        killing = killWorkersUntilOneIsCaughtMidCall(startWorker);
        killing.catch(() => undefined); // awaited (and thrown) once the commands are sent
      },
    });
    await killing;
    // Slack retrying the first deliveries, each to the web process that did not get it first.
    resent = await Promise.all(outcomes.slice(0, RESENDS).map((o) => (senders[(o.sender + 1) % senders.length] as SlackRequestSender).sendRaw(o.delivery.request)));
    const deadline = Date.now() + 30_000;
    while (webs.reduce((n, web) => n + ignoredRepeats(web), 0) < RESENDS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    const runIds = await redis.zrange(keys.runs, '0', '-1');
    await waitForRunsSettled(redis, keys, runIds, 90_000, 250);
    const wallMs = Date.now() - startedAt;
    console.info(`[scale-out] ${runIds.length} runs × ${STEP_IDS.length} steps (record, slow 200 ms, record) over 2 web + 3 worker processes (${killed.length} SIGKILLed, replaced): ${wallMs} ms, ${(runIds.length / (wallMs / 1000)).toFixed(1)} runs/s`);
    runs = await new RunStore(redis, keys).list(RUNS * 2 + 10);
    audit = await openPostgresAuditStore({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2 });
  }, 180_000);

  afterAll(async () => {
    // SIGTERM drains in-flight work and exits 0 (DESIGN.md §5); the killed ones report their SIGKILL.
    const exits = await Promise.all([...webs, ...workers].map(async (p) => `${p.name}: ${(await p.stop()).code ?? (killed.includes(p) ? 'killed' : 'signal')}`));
    await stopAllProcesses();
    await Promise.all(senders.map((s) => s.close()));
    await slack?.close();
    await audit?.close();
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
    if (redis) {
      const left = await redis.keys(`${prefix}:*`);
      if (left.length > 0) await redis.del(...left);
      await redis.quit();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(exits.filter((exit) => !/: (0|killed)$/.test(exit))).toEqual([]);
  }, 60_000);

  describe(`when ${RUNS} slash commands arrive over both web processes and a worker is SIGKILLed mid-step after ${KILL_AFTER} runs started`, () => {
    it('starts exactly one run per command, each announced in the reply, and resent deliveries start nothing', () => {
      expect(outcomes.filter((o) => !o.runId).map((o) => `${o.text}: ${o.reply}`)).toEqual([]);
      expect(runs).toHaveLength(RUNS);
      expect(runs.map((r) => r.params['target']).sort()).toEqual(Array.from({ length: RUNS }, (_, i) => targetOf(i)).sort());
      expect(runs.map((r) => r.id).sort()).toEqual(outcomes.map((o) => o.runId).sort());
      // Both web processes took commands.
      expect(webs.map((web) => web.logs().filter((l) => l.msg === 'run started').length)).toEqual([Math.ceil(RUNS / 2), Math.floor(RUNS / 2)]);
      expect(resent.map((r) => r.status)).toEqual(resent.map(() => 200));
      expect(webs.reduce((n, web) => n + ignoredRepeats(web), 0)).toBe(RESENDS);
      // The original reply stays the only one: a resend neither started a run nor answered again.
      expect(outcomes.slice(0, RESENDS).map((o) => senders[o.sender]?.responsesTo(o.delivery.responseUrl ?? '').length)).toEqual(outcomes.slice(0, RESENDS).map(() => 1));
    });

    it('runs every run to success and applies each step\'s side effect exactly once, also for the steps the kill interrupted', async () => {
      expect(runs.filter((r) => r.status !== 'succeeded').map((r) => `${r.id}: ${r.status}`)).toEqual([]);
      const state = executorState();
      const [effects, calls] = await Promise.all([state.effects(), state.calls()]);
      // A `change` call started twice: the killed worker was inside it, and the redelivered job
      // called again with the same idempotency key, which applied the effect once.
      const starts = new Map<string, number>();
      for (const call of calls) if (call.started) starts.set(call.key, (starts.get(call.key) ?? 0) + 1);
      const interrupted = [...starts.values()].filter((n) => n > 1).length;
      console.info(`[scale-out] executor calls ${calls.length}, effects applied ${effects.length}, workers killed ${killed.length}, change calls interrupted by a kill and redelivered ${interrupted}`);
      expect(interrupted, 'change calls a killed worker was inside').toBeGreaterThan(0);
      expect(effects.map((e) => e.key).sort()).toEqual(stepKeys(runs.map((r) => r.id)));
      const labels = new Set(effects.map((e) => e.label));
      expect(runs.flatMap((r) => STEP_IDS.map((step) => `${step} ${String(r.params['target'])}`)).filter((label) => !labels.has(label))).toEqual([]);
    });

    it('keeps every run\'s audit trail complete in PostgreSQL, in one unforked chain that verifies', async () => {
      const store = audit as AuditStore;
      const records: AuditRecord[] = [];
      for await (const record of store.stream()) records.push(record);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: records.length }, (_, i) => i + 1));
      const ids = new Set(runs.map((r) => r.id));
      const byRun = recordsByRun(records, ids);
      expect(runs.flatMap((r) => auditTrailProblems(r.id, byRun.get(r.id) ?? [], STEP_IDS))).toEqual([]);
      const summaries = await store.runs({ limit: Math.min(RUNS * 2 + 10, 10_000) });
      expect(summaries.map((s) => `${s.runId}:${s.status}`).sort()).toEqual(runs.map((r) => `${r.id}:succeeded`).sort());
      expect(await store.verify()).toMatchObject({ ok: true, count: records.length });
    });

    it('spreads the steps over every worker, the killed ones and their replacements included', () => {
      expect(killed.length).toBeGreaterThan(0);
      expect(workers).toHaveLength(3 + killed.length);
      expect(killed.filter((w) => w.isRunning()).map((w) => w.name)).toEqual([]);
      // The last step's result is applied (and `run finished` logged) by the worker that ran it.
      const finished = workers.map(finishedBy);
      const all = finished.flat();
      console.info(`[scale-out] runs finished per worker: ${workers.map((w, i) => `${w.name}${killed.includes(w) ? ' (killed)' : ''} ${finished[i]?.length ?? 0}`).join(', ')}`);
      expect(all.length - new Set(all).size, 'runs reported finished twice').toBe(0);
      const ids = new Set(runs.map((r) => r.id));
      expect(all.filter((id) => !ids.has(id))).toEqual([]);
      expect(workers.filter((_, i) => (finished[i]?.length ?? 0) === 0).map((w) => w.name)).toEqual([]);
    });
  });
});

/**
 * Slack figures against real processes: `runbook web` (Bolt's HTTP receiver) and `runbook worker`
 * (steps, and the run-message notifier since it has SLACK_BOT_TOKEN) on the machine's Redis under a
 * fresh key prefix, both talking to the Slack Web API stand-in, driven by signed slash commands from
 * the request sender. Ack latency under a burst of commands, and the time from a command to its
 * run's first executor call. Processes, keys and the temp dir are removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { FINAL_ICONS } from '../src/bot/run-message/index.ts';
import { startSlackStandIn, type SlackStandIn } from '../src/sandbox/slack.ts';
import { createSlackRequestSender, type SlackDelivery, type SlackRequestSender } from '../src/sandbox/slack-requests.ts';
import { ms, summarize, type Figure } from './stats.ts';

const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const BIN = fileURLToPath(new URL('../bin/runbook.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECRET = 'bench-signing-secret';
const TOKEN = 'xoxb-test-token';
const CHANNEL = 'C0MLINC001';
const REQUESTER = { userId: 'U0REQUEST1', userName: 'alice' };
const BURSTS = [50, 200] as const;
const FIRST_CALL_TRIALS = 5;
const STEPS_PER_RUN = 2;
const START_TEXT = 'bench';

const RUNBOOK = `---
id: bench-slack
title: Bench Slack
triggers: { slack: "${START_TEXT}" }
---
# Bench Slack
${Array.from({ length: STEPS_PER_RUN }, (_, i) => `\n## Record ${i + 1} {#r${i + 1}}\n\`\`\`record\nlabel: "step ${i + 1}"\ntimeout: 10s\n\`\`\`\n`).join('')}`;

interface SlackBench {
  readonly slack: SlackStandIn;
  readonly sender: SlackRequestSender;
  readonly redis: Redis;
  /** The `record` executor's call log (`${prefix}:test:calls`). */
  readonly callsKey: string;
}

export async function benchSlack(): Promise<Figure[]> {
  const prefix = `bench-slack-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'runbook-bench-slack-'));
  const children = new Set<ChildProcess>();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  let slack: SlackStandIn | undefined;
  let sender: SlackRequestSender | undefined;
  try {
    slack = await startSlackStandIn();
    const port = await startProcesses(prefix, dir, slack.url, children);
    sender = await createSlackRequestSender({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret: SECRET, timeoutMs: 30_000 });
    const bench: SlackBench = { slack, sender, redis, callsKey: `${prefix}:test:calls` };
    await warmUp(bench);
    const firstCall = await benchFirstCall(bench);
    const acks = await benchAcks(bench);
    return [...acks, firstCall];
  } finally {
    await Promise.all([...children].map((child) => stopChild(child)));
    await sender?.close();
    await slack?.close();
    await deleteKeys(redis, `${prefix}:*`);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ── processes ────────────────────────────────────────────────────────────────────────────────

/** Starts the worker and the web process (PORT=0); resolves with the port the web process took. */
async function startProcesses(prefix: string, dir: string, slackUrl: string, children: Set<ChildProcess>): Promise<number> {
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  writeFileSync(join(runbooks, 'bench-slack.md'), RUNBOOK);
  // Only what the processes need: an inherited SLACK_APP_TOKEN would switch the web process to Socket Mode.
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'info',
    REDIS_URL, RUNBOOK_REDIS_PREFIX: prefix, DATA_DIR: join(dir, 'var'), RUNBOOKS_DIR: runbooks, RUNBOOK_TEST_EXECUTORS: '1',
    SLACK_BOT_TOKEN: TOKEN, SLACK_API_URL: slackUrl,
  };
  const [, ready] = await Promise.all([
    startProcess('worker', env, children),
    startProcess('web', { ...env, SLACK_SIGNING_SECRET: SECRET, PORT: '0', HOST: '127.0.0.1' }, children),
  ]);
  const port = (JSON.parse(ready) as { port?: unknown }).port;
  if (typeof port !== 'number') throw new Error(`bench: the web process logged no port: ${ready}`);
  return port;
}

/** Spawns `runbook <command>`; resolves with its `<command> ready` log line. */
function startProcess(command: 'web' | 'worker', env: Record<string, string>, children: Set<ChildProcess>): Promise<string> {
  const child = spawn(process.execPath, [BIN, command], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: runbook ${command} not ready in 30 s:\n${log}`)), 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-8_000);
      const line = log.split('\n').find((l) => l.includes(`"msg":"${command} ready"`));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench: runbook ${command} exited with ${code} before it was ready:\n${log}`));
    });
  });
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** SIGTERM (drains in-flight work), then SIGKILL if it has not exited in 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

const sleep = (msToWait: number) => new Promise((resolve) => setTimeout(resolve, msToWait));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench: ${what} did not happen within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

const sendCommand = (bench: SlackBench, text: string) => bench.sender.slashCommand({ text, ...REQUESTER, channelId: CHANNEL });

/** The text of the reply the command got on its `response_url`. */
async function replyOf(bench: SlackBench, delivery: SlackDelivery): Promise<{ text: string; atMs: number }> {
  const [reply] = await bench.sender.waitForResponses(delivery.responseUrl ?? '', 1, 30_000);
  const body = reply?.body;
  return { text: typeof body === 'object' && body !== null && 'text' in body ? String(body.text) : JSON.stringify(body), atMs: reply?.atMs ?? Number.NaN };
}

function startedRunId(text: string): string {
  const id = /Started run `([0-9A-Z]{26})`/.exec(text)?.[1];
  if (!id) throw new Error(`bench: \`/runbook ${START_TEXT}\` started no run: ${text.slice(0, 300)}`);
  return id;
}

const FINAL = new Set<string>(Object.values(FINAL_ICONS));

/** Resolves once every run's message shows a final state (the notifier has caught up); counts by icon. */
async function runMessagesFinal(bench: SlackBench, runIds: readonly string[], timeoutMs = 60_000): Promise<Map<string, number>> {
  const wanted = new Set(runIds);
  return until(`${runIds.length} run messages to show a final state`, timeoutMs, () => {
    const icons = new Map<string, number>();
    let final = 0;
    for (const message of bench.slack.state.messagesIn(CHANNEL)) {
      const runId = /\(run ([0-9A-Z]{26})\)$/.exec(message.text)?.[1];
      const icon = [...message.text][0] ?? '';
      if (message.thread_ts !== undefined || !runId || !wanted.has(runId) || !FINAL.has(icon)) continue;
      final += 1;
      icons.set(icon, (icons.get(icon) ?? 0) + 1);
    }
    return final === wanted.size ? icons : undefined;
  }, 50);
}

/** JIT, connections, the catalog and the runbook's compile cache in both processes. */
async function warmUp(bench: SlackBench): Promise<void> {
  await Promise.all(Array.from({ length: 10 }, async () => replyOf(bench, await sendCommand(bench, 'help'))));
  const ids = await Promise.all(Array.from({ length: 5 }, async () => startedRunId((await replyOf(bench, await sendCommand(bench, START_TEXT))).text)));
  await runMessagesFinal(bench, ids);
}

// ── command → first executor call ────────────────────────────────────────────────────────────

async function firstCallOnce(bench: SlackBench): Promise<{ firstCallMs: number; ackMs: number }> {
  const before = await bench.redis.llen(bench.callsKey);
  const started = performance.now();
  const sent = sendCommand(bench, START_TEXT).then((delivery) => ({ delivery, ackMs: performance.now() - started }));
  sent.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
  const firstCallMs = await until('the first executor call', 15_000, async () => ((await bench.redis.llen(bench.callsKey)) > before ? performance.now() - started : undefined), 5);
  const { delivery, ackMs } = await sent;
  if (delivery.status !== 200) throw new Error(`bench: the command was answered ${delivery.status}`);
  // The next trial starts once this run is over and its message final: nothing of it competes.
  await runMessagesFinal(bench, [startedRunId((await replyOf(bench, delivery)).text)]);
  return { firstCallMs, ackMs };
}

async function benchFirstCall(bench: SlackBench): Promise<Figure> {
  const firstCalls: number[] = [];
  const acks: number[] = [];
  for (let trial = 0; trial < FIRST_CALL_TRIALS; trial += 1) {
    const { firstCallMs, ackMs } = await firstCallOnce(bench);
    firstCalls.push(firstCallMs);
    acks.push(ackMs);
  }
  const f = summarize(firstCalls);
  return {
    name: 'slash command → first executor call (median / max)',
    value: `${ms(f.p50)} / ${ms(f.max)}`,
    how: `${FIRST_CALL_TRIALS} trials, one at a time, each after the previous run finished and its run message showed the final state: \`/runbook ${START_TEXT}\` (a ${STEPS_PER_RUN}-step \`record\` runbook) signed and POSTed to \`runbook web\`, timed from the send to the first \`record\` call appearing in Redis (LLEN of \`<prefix>:test:calls\` polled every 5 ms) — ack, command handling, engine.startRun (transition + fsync'd audit append) in the web process, step job picked up by \`runbook worker\` (default settings). All trials: ${firstCalls.map((x) => x.toFixed(1)).join(' / ')} ms; their acks: ${acks.map((x) => x.toFixed(1)).join(' / ')} ms`,
  };
}

// ── ack latency under a burst ────────────────────────────────────────────────────────────────

interface Burst {
  readonly acks: ReturnType<typeof summarize>;
  readonly replies: ReturnType<typeof summarize>;
  readonly texts: string[];
  /** From the first send to the last reply. */
  readonly wallMs: number;
}

/** Sends `n` signed commands at once (each its own trigger_id, so none is deduplicated); waits for every reply. */
async function burst(bench: SlackBench, text: string, n: number): Promise<Burst> {
  const began = performance.now();
  const sent = await Promise.all(Array.from({ length: n }, async () => {
    const sentAt = Date.now();
    const started = performance.now();
    const delivery = await sendCommand(bench, text);
    return { delivery, sentAt, ackMs: performance.now() - started };
  }));
  const refused = sent.filter((s) => s.delivery.status !== 200);
  if (refused.length > 0) throw new Error(`bench: ${refused.length} of ${n} commands were answered ${refused[0]?.delivery.status}`);
  const replies = await Promise.all(sent.map(async (s) => ({ ...(await replyOf(bench, s.delivery)), sentAt: s.sentAt })));
  return {
    acks: summarize(sent.map((s) => s.ackMs)),
    replies: summarize(replies.map((r) => r.atMs - r.sentAt)),
    texts: replies.map((r) => r.text),
    wallMs: performance.now() - began,
  };
}

const common = `signed in this process and POSTed at once (Promise.all over fetch) to \`runbook web\` on 127.0.0.1 (Bolt HTTPReceiver, acks before any work), each with its own trigger_id; ack = send → HTTP 200 with the body read`;

async function benchHelpBurst(bench: SlackBench, n: number): Promise<Figure> {
  const b = await burst(bench, 'help', n);
  return {
    name: `ack, ${n} × \`/runbook help\` at once (p50 / p99)`,
    value: `${ms(b.acks.p50)} / ${ms(b.acks.p99)}`,
    how: `${n} commands ${common}; pure ack: the help reply is posted to the response_url after it (reply p50 ${ms(b.replies.p50)}, p99 ${ms(b.replies.p99)}); max ack ${ms(b.acks.max)}; the worker idle; ${availableParallelism()} CPUs shared by all processes`,
  };
}

async function benchStartBurst(bench: SlackBench, n: number): Promise<Figure> {
  const drainFrom = performance.now();
  const b = await burst(bench, START_TEXT, n);
  const ids = b.texts.map(startedRunId);
  const icons = await runMessagesFinal(bench, ids, 120_000);
  const drainedS = (performance.now() - drainFrom) / 1000;
  const outcomes = [...icons].map(([icon, count]) => `${icon} ${count}`).join(', ');
  return {
    name: `ack, ${n} × starting \`/runbook ${START_TEXT}\` at once (p50 / p99)`,
    value: `${ms(b.acks.p50)} / ${ms(b.acks.p99)}`,
    how: `${n} commands ${common}; each then starts a run of a ${STEPS_PER_RUN}-step \`record\` runbook in the web process (the "Started run" reply: p50 ${ms(b.replies.p50)}, p99 ${ms(b.replies.p99)}, all ${(b.wallMs / 1000).toFixed(2)} s) while \`runbook worker\` runs the steps and posts the run messages; max ack ${ms(b.acks.max)}; all ${n} run messages final after ${drainedS.toFixed(1)} s (${outcomes})`,
  };
}

async function benchAcks(bench: SlackBench): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const n of BURSTS) figures.push(await benchHelpBurst(bench, n));
  for (const n of BURSTS) figures.push(await benchStartBurst(bench, n));
  return figures;
}

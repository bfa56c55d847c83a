/**
 * PagerDuty webhook figures: response time of `POST /pagerduty/webhook` (the real route: raw body,
 * signature check, zod parse, Redis SET NX dedupe, BullMQ enqueue) on a loopback HTTP server with
 * the machine's Redis under a fresh prefix, under bursts of 100 concurrent signed deliveries from
 * the PagerDuty stand-in's sender (realistic incident.triggered bodies, distinct event ids), and
 * under a burst of replays. Client and server share one Node process (and the machine's 2 cores), so
 * the burst figures include the client's own queueing. PagerDuty's deadline is 5 s. Keys and the queue are removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createPagerDutyEventsQueue } from '../src/bot/pagerduty-queue.ts';
import { pagerDutyWebhookRoute } from '../src/bot/pagerduty-webhook.ts';
import { createWebRequestListener, sendJson } from '../src/bot/web-routes.ts';
import { buildWebhookEvent, buildWebhookIncident, deliverPagerDutyWebhook } from '../src/sandbox/pagerduty-webhooks.ts';
import { ms, summarize, type Figure } from './stats.ts';

const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const SECRET = 'bench-webhook-secret';
const CONCURRENCY = 100;
const BURSTS = 5;

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

function triggered(n: number) {
  return buildWebhookEvent('incident.triggered', buildWebhookIncident({
    id: `QBENCH${String(n).padStart(6, '0')}`, number: n, title: `p99 latency SLO burn: model-${n % 7}`, status: 'triggered', urgency: 'high',
    service: { id: 'PSVC001', name: 'model-serving' }, assignees: [{ id: 'PUSER01', name: 'On-call' }], priority: 'P2',
  }), { agent: null });
}

export async function benchWebhook(): Promise<Figure[]> {
  const prefix = `bench-webhook-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const queue = createPagerDutyEventsQueue(redis, `${prefix}:bull`);
  const route = pagerDutyWebhookRoute({ secrets: [SECRET], redis, prefix, queue, logger: silent });
  const server = createServer(createWebRequestListener([route], (_req, res) => sendJson(res, 404, {}), () => undefined));
  server.maxConnections = CONCURRENCY * 2;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pagerduty/webhook`;
  try {
    // Warm-up: connections, Lua/zod JIT, BullMQ's scripts.
    await Promise.all(Array.from({ length: 20 }, (_, i) => deliverPagerDutyWebhook(url, SECRET, triggered(1_000_000 + i))));
    const single: number[] = [];
    for (let i = 0; i < 50; i += 1) single.push((await deliverPagerDutyWebhook(url, SECRET, triggered(2_000_000 + i))).durationMs);
    const accepted: number[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    let lastBurst: ReturnType<typeof triggered>[] = [];
    for (let burst = 0; burst < BURSTS; burst += 1) {
      lastBurst = Array.from({ length: CONCURRENCY }, () => triggered((sent += 1)));
      const results = await Promise.all(lastBurst.map((event) => deliverPagerDutyWebhook(url, SECRET, event)));
      for (const r of results) {
        accepted.push(r.durationMs);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    }
    const before = await queue.count();
    const replays = await Promise.all(lastBurst.map((e) => deliverPagerDutyWebhook(url, SECRET, e)));
    const enqueued = await queue.count();
    const a = summarize(accepted);
    const r = summarize(replays.map((x) => x.durationMs));
    const one = summarize(single);
    const how = `${BURSTS} bursts × ${CONCURRENCY} concurrent signed incident.triggered deliveries (fetch, loopback), route in-process on local Redis`;
    return [
      { name: 'webhook p50 / p99 (one at a time)', value: `${ms(one.p50)} / ${ms(one.p99)}`, how: '50 sequential signed deliveries: the route\'s own cost plus loopback HTTP' },
      { name: `webhook p50 (${CONCURRENCY} concurrent)`, value: ms(a.p50), how },
      { name: `webhook p99 (${CONCURRENCY} concurrent)`, value: ms(a.p99), how },
      { name: 'webhook max', value: ms(a.max), how: `worst of ${a.n}; PagerDuty's deadline is 5000 ms` },
      { name: 'webhook answers', value: [...statuses].map(([s, n]) => `${n}×${s}`).join(' '), how: `statuses of the ${a.n} deliveries; ${before} jobs enqueued (incl. 70 warm-up and sequential)` },
      { name: `replay p50 / p99 (${CONCURRENCY} concurrent)`, value: `${ms(r.p50)} / ${ms(r.p99)}`, how: `the same event ids again: answered ${[...new Set(replays.map((x) => x.status))].join(',')}, ${enqueued - before} more jobs enqueued` },
    ];
  } finally {
    await new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
}

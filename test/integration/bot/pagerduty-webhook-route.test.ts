/**
 * `POST /pagerduty/webhook` on a real HTTP server, real Redis and a real BullMQ queue, driven by
 * the PagerDuty stand-in's signed sender: what PagerDuty is answered, and what lands on the queue.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPagerDutyEventsQueue, pagerDutyEventJobId, type PagerDutyEventJob } from '../../../src/bot/pagerduty-queue.ts';
import { pagerDutyWebhookRoute } from '../../../src/bot/pagerduty-webhook.ts';
import { createWebRequestListener, sendJson } from '../../../src/bot/web-routes.ts';
import { signPagerDutyBody } from '../../../src/integrations/pagerduty-signature.ts';
import { buildWebhookEvent, buildWebhookIncident, deliverPagerDutyWebhook } from '../../../src/sandbox/pagerduty-webhooks.ts';
import { REDIS_URL } from '../../helpers/engine.ts';

const SECRET = 'route-test-secret';
const logged: string[] = [];
const logger = { info: (_f: object, m: string) => void logged.push(m), warn: (f: object, m: string) => void logged.push(`${m} ${JSON.stringify(f)}`), error: (f: object, m: string) => void logged.push(`${m} ${JSON.stringify(f)}`) };

let prefix: string;
let redis: Redis;
let queue: Queue<PagerDutyEventJob>;
let servers: Server[] = [];

async function serve(secrets: readonly string[]): Promise<string> {
  const route = pagerDutyWebhookRoute({ secrets, redis, prefix, queue, logger });
  const server = createServer(createWebRequestListener([route], (_req, res) => sendJson(res, 404, { error: 'not_found' }), () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/pagerduty/webhook`;
}

const triggered = (title = 'p99 latency SLO burn: model-x') =>
  buildWebhookEvent('incident.triggered', buildWebhookIncident({ id: `Q${randomUUID().slice(0, 8).toUpperCase()}`, number: 7, title, status: 'triggered', urgency: 'high', service: { id: 'PSVC001', name: 'model-serving' } }));

async function jobCount(): Promise<number> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

beforeAll(async () => {
  prefix = `test-${randomUUID().slice(0, 8)}`;
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  queue = createPagerDutyEventsQueue(redis, `${prefix}:bull`);
});

beforeEach(() => {
  logged.length = 0;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => { s.close(resolve); s.closeAllConnections(); })));
  servers = [];
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('POST /pagerduty/webhook', () => {
  describe('when a signed incident.triggered arrives', () => {
    it('answers 202 and enqueues exactly one job, keyed by the event id', async () => {
      const url = await serve([SECRET]);
      const event = triggered();
      const before = await jobCount();
      const result = await deliverPagerDutyWebhook(url, SECRET, event);
      expect(result.status).toBe(202);
      expect(JSON.parse(result.body)).toEqual({ status: 'accepted', event_id: event.event.id });
      expect(await jobCount()).toBe(before + 1);
      const job = await queue.getJob(pagerDutyEventJobId(event.event.id));
      expect(job?.data.event).toEqual(event.event);
      expect(job?.id).not.toContain(':');
    });
  });

  describe('when PagerDuty redelivers the same event', () => {
    it('answers 200 and enqueues nothing more', async () => {
      const url = await serve([SECRET]);
      const event = triggered();
      expect((await deliverPagerDutyWebhook(url, SECRET, event)).status).toBe(202);
      const before = await jobCount();
      const replay = await deliverPagerDutyWebhook(url, SECRET, event, { webhookId: 'another-delivery' });
      expect(replay.status).toBe(200);
      expect(JSON.parse(replay.body)).toMatchObject({ status: 'duplicate' });
      expect(await jobCount()).toBe(before);
    });

    it('remembers the event id for 48 hours', async () => {
      const url = await serve([SECRET]);
      const event = triggered();
      await deliverPagerDutyWebhook(url, SECRET, event);
      const keys = await redis.keys(`${prefix}:pagerduty:event:*`);
      const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
      expect(Math.max(...ttls)).toBeGreaterThan(47 * 3600_000);
      expect(Math.max(...ttls)).toBeLessThanOrEqual(48 * 3600_000);
    });
  });

  describe('when the delivery is not signed right', () => {
    it.each([
      ['unsigned', { signature: null }, 400, 'pagerduty_signature_missing'],
      ['signed with another secret', { signature: signPagerDutyBody('not-the-secret', '{}') }, 403, 'pagerduty_signature_mismatch'],
      ['with a malformed signature', { signature: 'v1=zz' }, 400, 'pagerduty_signature_malformed'],
    ] as const)('answers %s deliveries with a 4xx and enqueues nothing', async (_what, options, status, code) => {
      const url = await serve([SECRET]);
      const before = await jobCount();
      const remembered = (await redis.keys(`${prefix}:pagerduty:event:*`)).length;
      const event = triggered();
      const result = await deliverPagerDutyWebhook(url, SECRET, event, options);
      expect(result.status).toBe(status);
      expect(JSON.parse(result.body)).toMatchObject({ error: code });
      expect(await jobCount()).toBe(before);
      expect(await redis.keys(`${prefix}:pagerduty:event:*`)).toHaveLength(remembered);
      // The refused event id was not remembered: the genuine delivery still goes through.
      expect((await deliverPagerDutyWebhook(url, SECRET, event)).status).toBe(202);
      expect(logged.join('\n')).not.toContain(SECRET);
    });

    it('accepts either secret while ours rotates, and any v1 entry while PagerDuty rotates', async () => {
      const url = await serve(['old-secret', 'new-secret']);
      expect((await deliverPagerDutyWebhook(url, 'old-secret', triggered())).status).toBe(202);
      expect((await deliverPagerDutyWebhook(url, 'unknown', triggered(), { alsoSignWith: ['new-secret'] })).status).toBe(202);
    });
  });

  describe('when the signed body has the wrong shape', () => {
    it('answers 400 saying what was wrong, and enqueues nothing', async () => {
      const url = await serve([SECRET]);
      const before = await jobCount();
      const bad = buildWebhookEvent('incident.triggered', { id: 'Q1', title: 42 });
      const result = await deliverPagerDutyWebhook(url, SECRET, bad);
      expect(result.status).toBe(400);
      const body = JSON.parse(result.body) as { problems: string[] };
      expect(body.problems.join('\n')).toMatch(/event\.data\.title: .*string/);
      expect(body.problems.join('\n')).toMatch(/event\.data\.service/);
      expect((await deliverPagerDutyWebhook(url, SECRET, 'not json')).status).toBe(400);
      expect(await jobCount()).toBe(before);
    });

    it('accepts and enqueues an event type it will ignore', async () => {
      const url = await serve([SECRET]);
      const result = await deliverPagerDutyWebhook(url, SECRET, buildWebhookEvent('service.updated', { id: 'PSVC001', type: 'service' }));
      expect(result.status).toBe(202);
    });
  });

  describe('when no webhook secret is configured', () => {
    it('answers 503 with a clear message and enqueues nothing', async () => {
      const url = await serve([]);
      const before = await jobCount();
      const result = await deliverPagerDutyWebhook(url, SECRET, triggered());
      expect(result.status).toBe(503);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'pagerduty_webhook_not_configured', message: expect.stringContaining('PAGERDUTY_WEBHOOK_SECRET') });
      expect(await jobCount()).toBe(before);
    });
  });

  describe('when Redis stops answering', () => {
    it('answers 503 within the deadline, so PagerDuty redelivers, and enqueues nothing', async () => {
      // A server that accepts connections and never replies: a Redis that hangs, not one that is down.
      const sockets = new Set<Socket>();
      const silent = createNetServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const hung = new Redis({ host: '127.0.0.1', port: (silent.address() as AddressInfo).port, maxRetriesPerRequest: null, lazyConnect: false });
      hung.on('error', () => undefined);
      try {
        const route = pagerDutyWebhookRoute({ secrets: [SECRET], redis: hung, prefix, queue, logger, redisDeadlineMs: 300 });
        const server = createServer(createWebRequestListener([route], (_req, res) => sendJson(res, 404, {}), () => undefined));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        servers.push(server);
        const before = await jobCount();
        const startedAt = Date.now();
        const result = await deliverPagerDutyWebhook(`http://127.0.0.1:${(server.address() as AddressInfo).port}/pagerduty/webhook`, SECRET, triggered(), { retries: 0 });
        expect(result.status).toBe(503);
        expect(Date.now() - startedAt).toBeLessThan(5_000);
        expect(await jobCount()).toBe(before);
        expect(logged.some((line) => line.includes('asking PagerDuty to redeliver'))).toBe(true);
      } finally {
        hung.disconnect();
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  });

  describe('when the body is larger than the limit', () => {
    it('answers 413', async () => {
      const url = await serve([SECRET]);
      const event = triggered('x'.repeat(2 * 1024 * 1024));
      expect((await deliverPagerDutyWebhook(url, SECRET, event)).status).toBe(413);
    });
  });
});

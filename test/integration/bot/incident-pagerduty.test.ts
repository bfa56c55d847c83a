/**
 * The PagerDuty incident effects through the real pdjs client against the PagerDuty stand-in (with
 * real Redis for the note markers), and the stand-in's own webhook deliveries.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPagerDutyIncidentEffects } from '../../../src/bot/incident-pagerduty.ts';
import type { IncidentEffectJob, IncidentRecord, Incidents } from '../../../src/engine/incident-port.ts';
import { verifyPagerDutySignature } from '../../../src/integrations/pagerduty-signature.ts';
import { createPagerDutyClient } from '../../../src/integrations/pagerduty.ts';
import type { IncidentEffect } from '../../../src/machines/incident-types.ts';
import { startPagerDutyStandIn, type PagerDutyStandIn } from '../../../src/sandbox/pagerduty.ts';
import { REDIS_URL } from '../../helpers/engine.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let standIn: PagerDutyStandIn;
let redis: Redis;
let prefix: string;

beforeAll(async () => {
  standIn = await startPagerDutyStandIn();
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  prefix = `test-${randomUUID().slice(0, 8)}`;
});

afterAll(async () => {
  await standIn.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const client = () => createPagerDutyClient({ token: 'pd-test-token', from: 'bot@example.com', apiUrl: standIn.url, rateLimitRetryDelayMs: 10 });

/** The incident service's `get`, holding one incident linked (or not) to a PagerDuty incident. */
function incidentsWith(pdId: string | undefined): Pick<Incidents, 'get'> {
  return { get: async (id) => ({ id, status: 'triggered', version: 1, createdAt: 0, updatedAt: 0, context: { pagerDuty: pdId ? { incidentId: pdId } : null } }) as unknown as IncidentRecord };
}

function handler(pdId: string | undefined) {
  return createPagerDutyIncidentEffects({ pagerDuty: client(), incidents: incidentsWith(pdId), redis, prefix, logger: quiet });
}

const job = (effect: IncidentEffect, version = 2): IncidentEffectJob => ({ incidentId: 'INC-1', version, effect });

async function newIncident(): Promise<string> {
  return (await client().createIncident({ service: 'PSVC001', title: `t ${randomUUID()}` })).incident.id;
}

async function failureOf(promise: Promise<unknown>): Promise<Error & { code?: string; retryable?: boolean }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; retryable?: boolean };
  }
  throw new Error('expected a failure');
}

describe('createPagerDutyIncidentEffects', () => {
  describe('when the incident is acknowledged, then resolved here', () => {
    it('moves the PagerDuty incident with the From header', async () => {
      const id = await newIncident();
      await handler(id)(job({ kind: 'pagerduty.status', status: 'acknowledged' }));
      expect(standIn.state.incidents.find((i) => i.id === id)?.status).toBe('acknowledged');
      await handler(id)(job({ kind: 'pagerduty.status', status: 'resolved', resolution: 'rolled back' }, 3));
      expect(standIn.state.incidents.find((i) => i.id === id)).toMatchObject({ status: 'resolved', resolution: 'rolled back' });
      expect(standIn.state.callsTo('PUT', `/incidents/${id}`).map((c) => c.from)).toEqual(['bot@example.com', 'bot@example.com']);
    });
  });

  describe('when the same status job runs twice (at-least-once delivery)', () => {
    it('treats PagerDuty already being there as done', async () => {
      const id = await newIncident();
      const resolve = job({ kind: 'pagerduty.status', status: 'resolved' });
      await handler(id)(resolve);
      await expect(handler(id)(resolve)).resolves.toBeUndefined();
      await expect(handler(id)(job({ kind: 'pagerduty.status', status: 'acknowledged' }, 4))).resolves.toBeUndefined();
    });
  });

  describe('when PagerDuty refuses', () => {
    it('fails for good on a 404 (not retryable, coded)', async () => {
      const error = await failureOf(handler('QNOSUCHINC')(job({ kind: 'pagerduty.status', status: 'acknowledged' })));
      expect(error.name).toBe('UnrecoverableError');
      expect(error).toMatchObject({ code: 'pagerduty_rejected', retryable: false });
      expect(error.message).toMatch(/pagerduty\.status of INC-1 \(PagerDuty QNOSUCHINC\).*404/);
    });

    it('fails retryably on a 500', async () => {
      const id = await newIncident();
      standIn.state.failNext(1, 503, { method: 'PUT' });
      const error = await failureOf(handler(id)(job({ kind: 'pagerduty.status', status: 'acknowledged' })));
      expect(error).toMatchObject({ code: 'pagerduty_server_error', retryable: true });
      expect(error.name).not.toBe('UnrecoverableError');
    });

    it('rides out a 429 through pdjs retries', async () => {
      const id = await newIncident();
      standIn.state.rateLimitNext(1);
      await handler(id)(job({ kind: 'pagerduty.status', status: 'acknowledged' }));
      expect(standIn.state.incidents.find((i) => i.id === id)?.status).toBe('acknowledged');
    });
  });

  describe('when a note job runs twice', () => {
    it('adds the note once', async () => {
      const id = await newIncident();
      const note = job({ kind: 'pagerduty.note', content: 'Rolled back model-x to v41' }, 5);
      await handler(id)(note);
      await handler(id)(note);
      expect(standIn.state.notes.get(id)?.map((n) => [n.content, n.from])).toEqual([['Rolled back model-x to v41', 'bot@example.com']]);
    });
  });

  describe('when the incident is not linked to PagerDuty', () => {
    it('calls nothing', async () => {
      const before = standIn.state.calls.length;
      await handler(undefined)(job({ kind: 'pagerduty.note', content: 'x' }));
      expect(standIn.state.calls.length).toBe(before);
    });
  });
});

describe('the PagerDuty stand-in webhooks', () => {
  let receiver: Server | undefined;
  afterEach(async () => {
    standIn.state.setWebhook(undefined);
    if (receiver) await new Promise((resolve) => { receiver?.close(resolve); receiver?.closeAllConnections(); });
    receiver = undefined;
  });

  async function listen(answer: (n: number) => number): Promise<{ url: string; bodies: { headers: Record<string, unknown>; body: Buffer }[] }> {
    const bodies: { headers: Record<string, unknown>; body: Buffer }[] = [];
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(answer(bodies.length)).end();
      });
    });
    await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, bodies };
  }

  describe('when an incident is created, noted and resolved through REST', () => {
    it('delivers signed incident.triggered, incident.annotated and incident.resolved, in order', async () => {
      const { url, bodies } = await listen(() => 202);
      standIn.state.setWebhook({ url, secret: 'hook-secret' });
      const id = await newIncident();
      await client().addNote(id, 'looking at it');
      await client().updateIncident(id, { status: 'resolved' });
      await standIn.state.webhooksIdle();
      const events = bodies.map((b) => (JSON.parse(b.body.toString('utf8')) as { event: { event_type: string; data: { id: string; content?: string } } }).event);
      expect(events.map((e) => e.event_type)).toEqual(['incident.triggered', 'incident.annotated', 'incident.resolved']);
      expect(events[1]?.data.content).toBe('looking at it');
      for (const b of bodies) {
        expect(() => verifyPagerDutySignature(['hook-secret'], b.body, b.headers['x-pagerduty-signature'] as string)).not.toThrow();
        expect(b.headers['user-agent']).toBe('PagerDuty-Webhook/V3.0');
        expect(b.headers['x-webhook-id']).toEqual(expect.any(String));
      }
    });
  });

  describe('when the receiver answers 500 first', () => {
    it('retries the same delivery until it gets a 2xx', async () => {
      const { url, bodies } = await listen((n) => (n < 3 ? 500 : 200));
      standIn.state.setWebhook({ url, secret: 'hook-secret', retries: 3, retryDelayMs: 10 });
      const id = await newIncident();
      await standIn.state.webhooksIdle();
      expect(bodies).toHaveLength(3);
      expect(new Set(bodies.map((b) => b.body.toString('utf8'))).size).toBe(1);
      expect(standIn.state.deliveries.find((d) => d.incidentId === id)).toMatchObject({ status: 200, attempts: 3 });
    });
  });
});

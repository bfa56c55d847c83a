/**
 * `POST /pagerduty/webhook` (DESIGN.md §5): PagerDuty webhooks v3 in, one job out.
 *
 * PagerDuty wants a 2xx within 5 s and redelivers on timeouts, 5xx and 429, so this route does
 * only what must happen before answering: read the raw body (bounded), verify the signature
 * against the raw bytes, parse the shape, remember the event id for 48 h (PagerDuty's redelivery
 * window; `SET NX EX` is atomic across web processes) and enqueue one job with a deterministic id.
 * Everything else (incidents, runs, notes) is the `pagerduty-events` worker's.
 *
 * Answers: 202 accepted; 200 for a replay (already seen; nothing enqueued); 400 for a missing or
 * malformed signature, an empty body, bad JSON or a wrong shape; 403 for a signature mismatch
 * (PagerDuty does not redeliver 4xx); 413 past the size limit; 503 when no secret is configured
 * or Redis is unavailable (PagerDuty redelivers, and nothing was remembered).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { PAGERDUTY_SIGNATURE_HEADER, PagerDutySignatureError, verifyPagerDutySignature } from '../integrations/pagerduty-signature.ts';
import { parsePagerDutyEvent } from '../integrations/pagerduty-webhook-event.ts';
import { activeTraceparent } from '../observability/trace-context.ts';
import { PAGERDUTY_EVENT_JOB_OPTIONS, pagerDutyEventJobId, type PagerDutyEventJob } from './pagerduty-queue.ts';
import type { BotLogger } from './ports.ts';
import { readBody, sendJson, type WebRoute } from './web-routes.ts';

export const PAGERDUTY_WEBHOOK_PATH = '/pagerduty/webhook';

/** Options of {@link pagerDutyWebhookRoute}; durations in milliseconds. */
export interface PagerDutyWebhookOptions {
  /** `PAGERDUTY_WEBHOOK_SECRET`, split on commas (several while rotating). Empty: the route answers 503. */
  readonly secrets: readonly string[];
  /** A command connection (fail-fast options preferred: PagerDuty's 5 s). */
  readonly redis: Redis;
  /** The deployment's key prefix. */
  readonly prefix: string;
  readonly queue: Pick<Queue<PagerDutyEventJob>, 'add'>;
  readonly logger: BotLogger;
  /** Largest body accepted. @default 1048576 */
  readonly bodyLimitBytes?: number;
  /** How long an event id is remembered: PagerDuty redelivers for up to 48 h. @default 172800000 */
  readonly dedupeTtlMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
  /**
   * How long remembering and enqueueing may take before the route gives up with 503: PagerDuty
   * allows 5 s, and a Redis that went away must not hold the delivery past that. @default 3000
   */
  readonly redisDeadlineMs?: number;
}

/** The Redis key remembering one PagerDuty event id (hashed: ids come from outside). */
export function pagerDutyEventSeenKey(prefix: string, eventId: string): string {
  return `${prefix}:pagerduty:event:${createHash('sha256').update(eventId).digest('hex').slice(0, 40)}`;
}

/** The route, for `createBotApp({ routes })`. */
export function pagerDutyWebhookRoute(options: PagerDutyWebhookOptions): WebRoute {
  return { method: ['POST'], path: PAGERDUTY_WEBHOOK_PATH, handler: (req, res) => handleDelivery(options, req, res) };
}

async function handleDelivery(options: PagerDutyWebhookOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { logger } = options;
  if (options.secrets.length === 0) {
    return sendJson(res, 503, { error: 'pagerduty_webhook_not_configured', message: 'PAGERDUTY_WEBHOOK_SECRET is not set on this deployment; deliveries cannot be verified, so none are accepted' });
  }
  let body: Buffer;
  try {
    body = await readBody(req, options.bodyLimitBytes ?? 1_048_576);
  } catch (error) {
    if (isCode(error, 'body_too_large')) return sendJson(res, 413, { error: 'body_too_large', message: (error as Error).message });
    throw error;
  }
  try {
    verifyPagerDutySignature(options.secrets, body, req.headers[PAGERDUTY_SIGNATURE_HEADER]);
  } catch (error) {
    if (!(error instanceof PagerDutySignatureError)) throw error;
    logger.warn({ code: error.code, status: error.status, bytes: body.length, webhookId: header(req, 'x-webhook-id') }, 'refused a PagerDuty webhook delivery');
    return sendJson(res, error.status, { error: error.code, message: error.message });
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return sendJson(res, 400, { error: 'invalid_json', message: `the body is not JSON (${body.length} bytes); expected a PagerDuty v3 webhook {"event":{…}}` });
  }
  const parsed = parsePagerDutyEvent(json);
  if (!parsed.ok) {
    logger.warn({ problems: parsed.problems }, 'refused a signed PagerDuty delivery of an unexpected shape');
    return sendJson(res, 400, { error: 'invalid_event', message: 'the event does not have the expected shape', problems: parsed.problems });
  }
  const { event } = parsed;
  const seenKey = pagerDutyEventSeenKey(options.prefix, event.id);
  let first: boolean;
  try {
    first = (await withDeadline(options.redis.set(seenKey, '1', 'PX', options.dedupeTtlMs ?? 172_800_000, 'NX'), options.redisDeadlineMs ?? 3_000)) === 'OK';
  } catch (error) {
    logger.error({ eventId: event.id, err: errorText(error) }, 'could not record a PagerDuty event id; asking PagerDuty to redeliver');
    return sendJson(res, 503, { error: 'unavailable', message: 'could not record the event; please redeliver' });
  }
  if (!first) {
    logger.info({ eventId: event.id, eventType: event.event_type }, 'PagerDuty redelivered an event already accepted; nothing to do');
    return sendJson(res, 200, { status: 'duplicate', event_id: event.id });
  }
  const webhookId = header(req, 'x-webhook-id');
  const traceparent = activeTraceparent();
  const job: PagerDutyEventJob = { event: event as PagerDutyEventJob['event'], ...(webhookId ? { webhookId } : {}), receivedAt: (options.clock ?? Date.now)(), ...(traceparent ? { traceparent } : {}) };
  try {
    await withDeadline(options.queue.add('event', job, { ...PAGERDUTY_EVENT_JOB_OPTIONS, jobId: pagerDutyEventJobId(event.id) }), options.redisDeadlineMs ?? 3_000);
  } catch (error) {
    // Forget the id again, so PagerDuty's redelivery is not taken for a replay and lost.
    await options.redis.del(seenKey).catch(() => 0);
    logger.error({ eventId: event.id, err: errorText(error) }, 'could not enqueue a PagerDuty event; asking PagerDuty to redeliver');
    return sendJson(res, 503, { error: 'unavailable', message: 'could not queue the event; please redeliver' });
  }
  logger.info({ eventId: event.id, eventType: event.event_type, ...(webhookId ? { webhookId } : {}) }, 'accepted a PagerDuty event');
  sendJson(res, 202, { status: 'accepted', event_id: event.id });
}

/** `work`, or a rejection once `ms` have passed (the work itself goes on; its outcome is ignored). */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.slice(0, 200);
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

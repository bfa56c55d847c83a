/**
 * Times every request of the web process for `/metrics` (`runbook_http_request_duration_seconds`:
 * `/slack/events` is the Slack ack latency, `/pagerduty/webhook` the webhook's) and, with tracing
 * on, gives each a server span. The route label is a known path, never the raw URL (unbounded).
 */
import type { IncomingMessage, RequestListener } from 'node:http';
import type { Metrics } from './metrics.ts';
import type { Tracing } from './tracing.ts';

/** A route label for each request: the known path it matches (exactly, or below a prefix), else `other`. */
export function routeLabeler(paths: readonly { readonly path: string; readonly prefix?: boolean }[]): (req: IncomingMessage) => string {
  return (req) => {
    const raw = req.url ?? '/';
    const end = raw.search(/[?#]/);
    const path = end === -1 ? raw : raw.slice(0, end);
    const match = paths.find((p) => p.path === path || (p.prefix === true && path.startsWith(`${p.path.replace(/\/$/, '')}/`)));
    return match?.path ?? 'other';
  };
}

/** Wraps a request listener with timing (and spans, when `tracing` is given). */
export function observeRequests(listener: RequestListener, options: { readonly metrics?: Metrics; readonly tracing?: Tracing; readonly routeOf: (req: IncomingMessage) => string }): RequestListener {
  const traced = options.tracing ? options.tracing.instrumentRequests(listener, options.routeOf) : listener;
  const metrics = options.metrics;
  if (!metrics) return traced;
  return (req, res) => {
    const started = performance.now();
    const route = options.routeOf(req);
    // `finish`: the response is handed to the OS — for Slack, that is the ack.
    res.once('finish', () => metrics.observeHttp({ route, method: req.method ?? 'GET', status: res.statusCode, durationMs: performance.now() - started }));
    traced(req, res);
  };
}

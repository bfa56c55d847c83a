/**
 * `GET /metrics` in Prometheus text format: a route for the web process (shaped as the bot's
 * `WebRoute`) and the same handler for the worker's own small server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from './metrics.ts';

/** A route of the web process (structurally `WebRoute` of src/bot/web-routes.ts). */
export interface MetricsRoute {
  readonly method: readonly string[];
  readonly path: string;
  readonly handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/** Answers with the registry's exposition; a failing collector is a 500 naming it, never a hang. */
export function metricsHandler(metrics: Metrics): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (_req, res) => {
    try {
      const { contentType, body } = await metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`could not collect metrics: ${message.slice(0, 300)}\n`);
    }
  };
}

/** `GET /metrics` for the web process's route list. */
export function metricsRoute(metrics: Metrics): MetricsRoute {
  return { method: ['GET'], path: '/metrics', handler: metricsHandler(metrics) };
}

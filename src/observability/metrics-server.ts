/**
 * The worker process has no web server of its own: this tiny one serves `GET /metrics` (and
 * `GET /healthz`) on `METRICS_PORT` so Prometheus can scrape workers too. Everything else is 404.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsHandler } from './metrics-route.ts';
import type { Metrics } from './metrics.ts';

export interface MetricsServerOptions {
  readonly metrics: Metrics;
  /** 0 picks a free port. */
  readonly port: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
}

/** A listening metrics server; `close()` is idempotent. */
export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the server; rejects (with the listen error, such as `EADDRINUSE`) when it cannot listen. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const handler = metricsHandler(options.metrics);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') return void handler(req, res);
    if (req.method === 'GET' && path === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","routes":["GET /metrics","GET /healthz"]}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1'}:${port}/metrics`,
    close: () => (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })),
  };
}

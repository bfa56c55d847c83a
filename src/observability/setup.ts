/**
 * Observability of one process from its environment: metrics always (a Registry of its own),
 * traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the SDK is imported only then), the worker's
 * `/metrics` server on `METRICS_PORT`, and `AUDIT_TOKEN` for the admin pages.
 */
import type { IncomingMessage, RequestListener } from 'node:http';
import { observeRequests, routeLabeler } from './http.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { composeObservers, type EngineObserver } from './observer.ts';
import { deploymentQueues, type DeploymentQueues, type QueueSource } from './queues.ts';
import type { Tracing } from './tracing.ts';

/** The observability settings of DESIGN.md §5, validated. */
export interface ObservabilitySettings {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`; unset: no tracing. */
  readonly otlpEndpoint?: string;
  /** `METRICS_PORT`: the worker's `/metrics` server; unset: none (the web process serves `/metrics` itself). */
  readonly metricsPort?: number;
  /** `AUDIT_TOKEN`: admin pages; unset: they answer 503. */
  readonly auditToken?: string;
}

/** Reads the settings, with one message per bad value (secrets never echoed). */
export function observabilitySettingsFromEnv(env: Readonly<Record<string, string | undefined>>): { settings: ObservabilitySettings; problems: string[] } {
  const value = (name: string) => env[name]?.trim() || undefined;
  const problems: string[] = [];
  const endpoint = value('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) problems.push(`OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL such as http://localhost:4318; got ${JSON.stringify(endpoint.slice(0, 100))}`);
  const rawPort = value('METRICS_PORT');
  const port = rawPort === undefined ? undefined : Number(rawPort);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) problems.push(`METRICS_PORT must be a whole number from 0 to 65535 (for example 9464); got ${JSON.stringify(rawPort)}`);
  const token = value('AUDIT_TOKEN');
  return {
    settings: {
      ...(endpoint && problems.length === 0 ? { otlpEndpoint: endpoint } : {}),
      ...(port !== undefined && Number.isInteger(port) ? { metricsPort: port } : {}),
      ...(token ? { auditToken: token } : {}),
    },
    problems,
  };
}

/** What a process observes with. */
export interface ProcessObservability {
  readonly metrics: Metrics;
  readonly tracing?: Tracing;
  /** Pass to the runtime (`RuntimeOptions.observer`). */
  readonly observer: EngineObserver;
  /** Starts sampling the runtime's queues at each scrape; returns them (for the dashboard). */
  watch(runtime: QueueSource): DeploymentQueues;
  /** Wraps the web process's request listener: timings, and spans with tracing on. */
  instrumentRequests(knownPaths: readonly { readonly path: string; readonly prefix?: boolean }[]): (listener: RequestListener) => RequestListener;
  /** Flushes spans and closes what `watch` opened; idempotent. */
  close(): Promise<void>;
}

/** Creates the metrics and, when configured, the tracing of a `web` or `worker` process. */
export async function createProcessObservability(process: 'web' | 'worker' | 'dev', settings: ObservabilitySettings): Promise<ProcessObservability> {
  const metrics = createMetrics({ defaultLabels: { process } });
  // Dynamic: with tracing off the OpenTelemetry SDK is never loaded.
  const tracing = settings.otlpEndpoint ? (await import('./tracing.ts')).createTracing({ endpoint: settings.otlpEndpoint, serviceName: `runbook-bot-${process}` }) : undefined;
  const watched: DeploymentQueues[] = [];
  let closing: Promise<void> | undefined;
  return {
    metrics,
    ...(tracing ? { tracing } : {}),
    observer: composeObservers(metrics, tracing),
    watch: (runtime) => {
      const queues = deploymentQueues(runtime);
      metrics.watchQueues(queues.queues);
      watched.push(queues);
      return queues;
    },
    instrumentRequests: (knownPaths) => {
      const routeOf: (req: IncomingMessage) => string = routeLabeler(knownPaths);
      return (listener) => observeRequests(listener, { metrics, ...(tracing ? { tracing } : {}), routeOf });
    },
    close: () => (closing ??= (async () => {
      await Promise.all(watched.map((q) => q.close()));
      await tracing?.shutdown().catch(() => undefined);
    })()),
  };
}

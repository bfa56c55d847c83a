/**
 * OpenTelemetry traces, on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (load this module with a
 * dynamic `import()` only then: with tracing off the SDK is never loaded). Spans:
 * - `HTTP <method> <route>` per request of the web process (the Slack command or webhook), joining
 *   an incoming `traceparent` header when there is one;
 * - `run <runbook>` when a run starts, a child of the request that started it; its W3C
 *   `traceparent` is stored on the run record;
 * - `step <id>` per executor call in the step worker, in whatever process, parented by the run's
 *   stored `traceparent`, so a run and its steps are one trace.
 * A run lasts minutes to days across processes, longer than a span can stay open in one: the run
 * span covers the start (validation, persistence, first dispatch) and steps hang under it.
 */
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { IncomingMessage, RequestListener } from 'node:http';
import type { EngineObserver, ObservedRun, ObservedStep, RunSpan } from './observer.ts';

export interface TracingOptions {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: spans go to `<endpoint>/v1/traces` as OTLP/HTTP JSON. */
  readonly endpoint: string;
  /** `runbook-bot-web` or `runbook-bot-worker`. */
  readonly serviceName: string;
  /** Replaces the OTLP exporter (tests may use an in-memory one). */
  readonly exporter?: SpanExporter;
  /** Longest wait before a batch of spans is sent. @default 1000 */
  readonly exportDelayMs?: number;
}

/** The tracing side of the observer, plus the web process's request spans. */
export interface Tracing extends Required<Pick<EngineObserver, 'startRunSpan' | 'step'>> {
  /** Wraps the web process's request listener: one server span per request, active while it is handled. */
  instrumentRequests(listener: RequestListener, routeOf: (req: IncomingMessage) => string): RequestListener;
  /** Sends the spans not sent yet. */
  flush(): Promise<void>;
  /** Flushes and stops; idempotent. */
  shutdown(): Promise<void>;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
let registered = false;

/** Starts the tracer provider and its exporter. */
export function createTracing(options: TracingOptions): Tracing {
  const exporter = options.exporter ?? new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: options.exportDelayMs ?? 1_000 })],
  });
  // The context manager (AsyncLocalStorage) is process-wide: registered once, by the first tracing.
  if (!registered) {
    provider.register();
    registered = true;
  }
  const tracer = provider.getTracer('runbook-bot');
  let stopping: Promise<void> | undefined;

  return {
    startRunSpan: (run: ObservedRun): RunSpan => {
      const span = tracer.startSpan(`run ${run.runbook}`, { kind: SpanKind.INTERNAL, attributes: runAttributes(run) }, context.active());
      return { traceparent: formatTraceparent(span.spanContext()), end: (error?: unknown) => endSpan(span, error) };
    },
    step: <T>(step: ObservedStep & { readonly traceparent?: string }, call: () => Promise<T>): Promise<T> => {
      const parent = step.traceparent ? contextOf(step.traceparent) : context.active();
      const attributes = { ...runAttributes(step), 'runbook.step.id': step.stepId, 'runbook.step.executor': step.executor, 'runbook.step.phase': step.phase, 'runbook.step.attempt': step.attempt };
      return tracer.startActiveSpan(`step ${step.stepId}`, { kind: SpanKind.INTERNAL, attributes }, parent, async (span: Span) => {
        try {
          const result = await call();
          endSpan(span);
          return result;
        } catch (error) {
          endSpan(span, error);
          throw error;
        }
      });
    },
    instrumentRequests: (listener, routeOf) => (req, res) => {
      const header = req.headers.traceparent;
      const parent = typeof header === 'string' && TRACEPARENT.test(header.trim()) ? contextOf(header.trim()) : ROOT_CONTEXT;
      const route = routeOf(req);
      const span = tracer.startSpan(`HTTP ${req.method ?? 'GET'} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? 'GET', 'http.route': route } }, parent);
      res.once('close', () => {
        span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      context.with(trace.setSpan(parent, span), () => listener(req, res));
    },
    flush: () => provider.forceFlush(),
    shutdown: () => (stopping ??= provider.shutdown()),
  };
}

/** `00-<trace id>-<span id>-<flags>` (W3C Trace Context, version 00). */
export function formatTraceparent(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${spanContext.traceFlags.toString(16).padStart(2, '0')}`;
}

/** A context whose remote parent is the `traceparent`; the root context when it is malformed. */
export function contextOf(traceparent: string): Context {
  const match = TRACEPARENT.exec(traceparent);
  if (!match?.[1] || !match[2] || !match[3]) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: match[1], spanId: match[2], traceFlags: Number.parseInt(match[3], 16), isRemote: true });
}

function runAttributes(run: ObservedRun): Record<string, string> {
  return { 'runbook.run.id': run.runId, 'runbook.id': run.runbook, ...(run.costCenter ? { 'runbook.cost_center': run.costCenter } : {}) };
}

function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'error';
    span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  }
  span.end();
}

/**
 * Carrying a trace across a queue: the W3C `traceparent` of the active span is stored in a job,
 * and the job's handler runs inside it, so work a webhook caused in another process (an
 * auto-started run) is part of the webhook's trace. Only `@opentelemetry/api` is used: with
 * tracing off there is no active span and both functions do nothing.
 */
import { context, trace, ROOT_CONTEXT } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The active span's `traceparent`, or `undefined` when nothing is being traced. */
export function activeTraceparent(): string | undefined {
  const span = trace.getSpanContext(context.active());
  if (!span || !trace.isSpanContextValid(span)) return undefined;
  return `00-${span.traceId}-${span.spanId}-${span.traceFlags.toString(16).padStart(2, '0')}`;
}

/** Runs `work` with `traceparent` (when valid) as the remote parent of the spans it starts. */
export function withTraceparent<T>(traceparent: string | undefined, work: () => T): T {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!match?.[1] || !match[2] || !match[3]) return work();
  const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: match[1], spanId: match[2], traceFlags: Number.parseInt(match[3], 16), isRemote: true });
  return context.with(parent, work);
}

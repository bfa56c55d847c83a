/**
 * Structured JSON logs (pino), one object per line, with a level filter. Every line passes through
 * the audit log's redaction first: values under secret-looking keys (`token`, `secret`,
 * `password`, `authorization`, `signingKey`…) and token-shaped substrings (`xoxb-…`, `AKIA…`,
 * `Bearer …`) never reach the output, in the fields or in the message.
 */
import { pino, stdTimeFunctions } from 'pino';
import { redactSecrets } from '../audit/redact.ts';
import type { EngineLogger } from '../engine/engine.ts';

/** Levels, least severe first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The engine's logger plus `debug`, which costs one level check when it is filtered out. */
export interface Logger extends EngineLogger {
  debug(fields: Record<string, unknown>, message: string): void;
}

/** Keys the audit redaction does not cover but logs may carry (`signingKey`, `cookie`, `credentials`). */
const EXTRA_SECRET_KEY = /signing[_-]?key|cookie|credential|hmac/i;

/**
 * A logger writing one JSON line per entry to `write`: `level` (label), `time` (ISO 8601), the
 * `base` fields (`process`, `pid`), the entry's fields (`runId`, `stepId`, `incidentId`,
 * `requestId` as callers pass them), then `msg`.
 */
export function createLogger(level: LogLevel, write: (line: string) => void, base: Record<string, unknown> = {}): Logger {
  const logger = pino(
    {
      level,
      base: redactFields(base),
      messageKey: 'msg',
      timestamp: stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => redactFields(fields),
      },
    },
    { write: (line: string) => write(line.endsWith('\n') ? line : `${line}\n`) },
  );
  const entry = (lvl: LogLevel) => (fields: Record<string, unknown>, message: string) => {
    if (!logger.isLevelEnabled(lvl)) return;
    logger[lvl](fields, redactSecrets(message) as string);
  };
  return { debug: entry('debug'), info: entry('info'), warn: entry('warn'), error: entry('error') };
}

/** The audit redaction, plus the keys above; errors become their message (pino would print stacks). */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  const plain = Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [key, EXTRA_SECRET_KEY.test(key) && value != null ? '[redacted]' : value instanceof Error ? value.message : value]),
  );
  return redactSecrets(plain) as Record<string, unknown>;
}

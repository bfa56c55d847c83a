/**
 * Output caps shared by the executors that capture what an outside system says (`http`, `run`),
 * and the helpers that apply them. Captured text is bounded while it is read, never after: a
 * program that prints forever or a server that streams gigabytes costs a worker a fixed amount of
 * memory. Whatever is cut is marked, both with a flag in the output and with a marker in the text.
 */
import { redactSecrets } from '../audit/redact.ts';

/** Bytes of an HTTP response body read at most; the rest is never downloaded. @default 256 KiB */
export const DEFAULT_HTTP_BODY_LIMIT_BYTES = 256 * 1024;

/**
 * Characters of a non-JSON HTTP body kept in the step output (`text`). Below the engine's cap on a
 * whole step output (64 Ki JSON characters), so a text answer is cut here, where it is marked,
 * rather than replaced by the engine's preview.
 */
export const DEFAULT_HTTP_TEXT_LIMIT_CHARS = 16 * 1024;

/** Bytes of each of a program's stdout and stderr kept (the tail: the end says what went wrong). @default 64 KiB */
export const DEFAULT_RUN_STREAM_LIMIT_BYTES = 64 * 1024;

/** Characters of stderr (or a response body) quoted in an error message. */
export const ERROR_EXCERPT_CHARS = 2_000;

/** What replaces the cut part of a text: `…[truncated 1234 bytes]`. */
export function truncationMarker(cutBytes: number): string {
  return `…[truncated ${cutBytes} bytes]`;
}

/** The first `maxChars` characters of `text`, marked when cut. */
export function headOf(text: string, maxChars: number): { text: string; truncated: boolean } {
  if (text.length <= maxChars) return { text, truncated: false };
  return { text: `${text.slice(0, maxChars)}${truncationMarker(Buffer.byteLength(text.slice(maxChars)))}`, truncated: true };
}

/** The last `maxChars` characters of `text`, marked when cut (for stderr in error messages). */
export function tailOf(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `…${text.slice(text.length - maxChars)}`;
}

/**
 * Keeps the last `limitBytes` bytes written to it, however much is written. Used for a program's
 * stdout and stderr, whose end (the error, the final JSON line) matters more than their start.
 */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private keptBytes = 0;
  private droppedBytes = 0;
  private readonly limitBytes: number;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  /** Appends `chunk`, dropping the oldest bytes beyond the limit. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.keptBytes += chunk.length;
    while (this.keptBytes > this.limitBytes) {
      const first = this.chunks[0];
      if (!first) break;
      const excess = this.keptBytes - this.limitBytes;
      if (first.length <= excess) {
        this.chunks.shift();
        this.keptBytes -= first.length;
        this.droppedBytes += first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.keptBytes -= excess;
        this.droppedBytes += excess;
      }
    }
  }

  /** True when bytes were dropped. */
  get truncated(): boolean {
    return this.droppedBytes > 0;
  }

  /** The kept bytes as UTF-8, preceded by a marker when the start was dropped. */
  text(): string {
    let bytes = Buffer.concat(this.chunks);
    if (!this.truncated) return bytes.toString('utf8');
    // The cut may fall inside a multi-byte character: skip its continuation bytes (10xxxxxx).
    let start = 0;
    while (start < bytes.length && start < 4 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start += 1;
    bytes = bytes.subarray(start);
    return `${truncationMarker(this.droppedBytes + start)}\n${bytes.toString('utf8')}`;
  }
}

/**
 * Reads at most `limitBytes` of `body`, then cancels it so the rest is never downloaded.
 * Rejects with the stream's error (an AbortError when the request's signal fires mid-read).
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, limitBytes: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  if (!body) return { bytes: Buffer.alloc(0), truncated: false };
  const reader = body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: Buffer.concat(chunks), truncated: false };
      const room = limitBytes - total;
      if (value.length > room) {
        chunks.push(Buffer.from(value.subarray(0, room)));
        await reader.cancel().catch(() => undefined);
        return { bytes: Buffer.concat(chunks), truncated: true };
      }
      chunks.push(Buffer.from(value));
      total += value.length;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Applies `redact` to every string of a JSON value, keys included, keeping its structure (a
 * secret inside a string never breaks the JSON). Secrets that only appear as numbers are left to
 * the engine's second pass over the serialised output.
 */
export function redactJson(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((item: unknown) => redactJson(item, redact));
  if (typeof value !== 'object' || value === null) return value;
  // Object.fromEntries defines properties, so an own `__proto__` key stays data, never a prototype.
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [redact(key), redactJson(item, redact)]));
}

/** Keys whose values `plan` hides: they look like credentials. */
const SECRET_LOOKING_KEY = /token|secret|passw(?:or)?d|authorization|cookie|credential|api[_-]?key|private[_-]?key|auth/i;

/** True when a header or env name looks like it holds a credential (`SLACK_BOT_TOKEN`, `Authorization`). */
export function isSecretLookingKey(key: string): boolean {
  return SECRET_LOOKING_KEY.test(key);
}

/**
 * `KEY=value` pairs for `plan`, which has no run and so no secret params to redact: the values of
 * secret-looking keys are hidden, and secret-looking text (`Bearer …`, `xoxb-…`) in the others.
 */
export function describeMapForPlan(map: Readonly<Record<string, unknown>>, separator: string): string {
  return Object.entries(map)
    .map(([key, value]) => `${key}${separator}${isSecretLookingKey(key) ? '[hidden]' : describeValueForPlan(value)}`)
    .join(', ');
}

/** A value as `plan` shows it: strings as they are, anything else as JSON, secret-looking text replaced. */
export function describeValueForPlan(value: unknown): string {
  const shown = redactSecrets(value);
  return typeof shown === 'string' ? shown : (JSON.stringify(shown) ?? String(shown));
}

/**
 * The one duration parser: `500ms`, `30s`, `10m`, `2h`, `1d`, and sums such as `1h30m`.
 * Every duration in a runbook, policy or option goes through it, and becomes milliseconds.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;

/** Longest duration a runbook may ask for (a week): anything longer is a typo. */
export const MAX_DURATION_MS = 7 * UNIT_MS.d;

/** Parses a duration into milliseconds, or returns undefined when the text is not one. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(PART)) {
    const amount = Number(match[1]);
    const unit = match[2] as keyof typeof UNIT_MS;
    total += amount * UNIT_MS[unit];
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Formats milliseconds the way people write them: `1h30m`, `45s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms}ms`;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1_000);
  const parts: string[] = [];
  for (const [unit, seconds] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= seconds) {
      parts.push(`${Math.floor(rest / seconds)}${unit}`);
      rest %= seconds;
    }
  }
  return parts.join('');
}

/** What a duration must look like, for messages. */
export const DURATION_EXPECTATION = 'a duration such as 30s, 10m, 2h, 1d or 1h30m';

/**
 * Calendar arithmetic in UTC without `Date` (src/machines reads no clock): epoch milliseconds to
 * year/month/day and back to text, for channel names and postmortem timelines.
 */

const DAY_MS = 86_400_000;

export interface UtcParts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/** Splits epoch milliseconds into UTC calendar fields (proleptic Gregorian, H. Hinnant's algorithm). */
export function utcParts(epochMs: number): UtcParts {
  const days = Math.floor(epochMs / DAY_MS);
  const msOfDay = epochMs - days * DAY_MS;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const seconds = Math.floor(msOfDay / 1_000);
  return { year, month, day, hour: Math.floor(seconds / 3_600), minute: Math.floor((seconds % 3_600) / 60), second: seconds % 60 };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `20240501` */
export function formatUtcDay(epochMs: number): string {
  const p = utcParts(epochMs);
  return `${pad(p.year, 4)}${pad(p.month)}${pad(p.day)}`;
}

/** `2024-05-01 14:03:12 UTC` */
export function formatUtc(epochMs: number): string {
  const p = utcParts(epochMs);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)} UTC`;
}

/** `14:03:12` */
export function formatUtcTime(epochMs: number): string {
  const p = utcParts(epochMs);
  return `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

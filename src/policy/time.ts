/**
 * Change-freeze windows in local wall-clock time of an IANA time zone, through `Intl` only.
 * Comparing wall-clock readings (not instants) keeps DST honest: a window from 02:00 to 03:00 on
 * a spring-forward night is never active, and on a fall-back night it covers both 02:30s.
 */
import type { FreezeSchedule } from './types.ts';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const MINUTES_PER_WEEK = 7 * 24 * 60;
const ABSOLUTE = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?$/;
const WEEKLY = /^(mon|tue|wed|thu|fri|sat|sun)[a-z]* (\d{2}):(\d{2})$/i;

/** A local reading of an instant: `2026-12-24T10:00` and the minute of the week (Monday 00:00 = 0). */
export interface WallClock {
  readonly text: string;
  readonly minuteOfWeek: number;
  readonly weekday: (typeof DAYS)[number];
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** What a clock on the wall in `zone` shows at `at` (epoch ms). */
export function wallClock(at: number, zone: string): WallClock {
  const parts = Object.fromEntries(formatterFor(zone).formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  const weekday = String(parts['weekday']).slice(0, 3).toLowerCase() as WallClock['weekday'];
  const hour = Number(parts['hour']) % 24;
  const minute = Number(parts['minute']);
  const day = DAYS.indexOf(weekday);
  const text = `${parts['year']}-${parts['month']}-${parts['day']}T${pad(hour)}:${pad(minute)}`;
  return { text, weekday, minuteOfWeek: day * 1440 + hour * 60 + minute };
}

/**
 * Parses an absolute local date-time (`2026-12-24 00:00`, `2026-12-24T00:00`, or a date: its
 * midnight) into the comparable form `2026-12-24T00:00`; undefined when it is not one.
 */
export function parseLocalDateTime(text: string): string | undefined {
  const match = ABSOLUTE.exec(text.trim());
  if (!match) return undefined;
  const [, y, mo, d, h = '00', mi = '00'] = match;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const daysInMonth = new Date(Date.UTC(Number(y), month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 24 || minute > 59 || (hour === 24 && minute > 0)) return undefined;
  if (hour === 24) return `${nextDay(Number(y), month, day)}T00:00`;
  return `${y}-${mo}-${d}T${h}:${mi}`;
}

/** Parses `fri 17:00` (or `friday 17:00`; `24:00` is the end of that day) into a minute of the week. */
export function parseWeeklyTime(text: string): number | undefined {
  const match = WEEKLY.exec(text.trim());
  if (!match) return undefined;
  const day = DAYS.indexOf((match[1] ?? '').toLowerCase() as (typeof DAYS)[number]);
  const hour = Number(match[2]);
  const minute = Number(match[3]);
  if (hour > 24 || minute > 59 || (hour === 24 && minute > 0)) return undefined;
  return (day * 1440 + hour * 60 + minute) % MINUTES_PER_WEEK;
}

/** Whether `at` falls inside the window, read on the wall clock of `zone`; `to` is exclusive. */
export function isInWindow(schedule: FreezeSchedule, at: number, zone: string): boolean {
  const clock = wallClock(at, zone);
  if (schedule.kind === 'absolute') return clock.text >= schedule.from && clock.text < schedule.to;
  const { fromMinute, toMinute } = schedule;
  const m = clock.minuteOfWeek;
  return fromMinute < toMinute ? m >= fromMinute && m < toMinute : m >= fromMinute || m < toMinute;
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

function nextDay(year: number, month: number, day: number): string {
  const next = new Date(Date.UTC(year, month - 1, day + 1));
  return `${next.getUTCFullYear()}-${pad(next.getUTCMonth() + 1)}-${pad(next.getUTCDate())}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

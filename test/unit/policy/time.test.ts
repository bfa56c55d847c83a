import { describe, expect, it } from 'vitest';
import { isInWindow, parseLocalDateTime, parseWeeklyTime, wallClock } from '../../../src/policy/time.ts';

const at = (iso: string) => Date.parse(iso);
const weekly = (from: string, to: string) => ({ kind: 'weekly' as const, fromMinute: parseWeeklyTime(from) ?? -1, toMinute: parseWeeklyTime(to) ?? -1, text: `${from} – ${to}` });
const absolute = (from: string, to: string) => ({ kind: 'absolute' as const, from: parseLocalDateTime(from) ?? '', to: parseLocalDateTime(to) ?? '' });

describe('freeze window time', () => {
  describe('when an instant is read on a wall clock', () => {
    it('shows the local date, time and weekday of the zone', () => {
      const clock = wallClock(at('2026-12-24T23:30:00Z'), 'Pacific/Auckland');
      expect(clock.text).toBe('2026-12-25T12:30');
      expect(clock.weekday).toBe('fri');
    });
  });

  describe('when an absolute window is given in a time zone', () => {
    const window = absolute('2026-12-24 00:00', '2026-12-27');
    it('starts at local midnight, not UTC midnight', () => {
      expect(isInWindow(window, at('2026-12-23T22:59:00Z'), 'Europe/Berlin')).toBe(false);
      expect(isInWindow(window, at('2026-12-23T23:00:00Z'), 'Europe/Berlin')).toBe(true);
    });
    it('excludes its end', () => {
      expect(isInWindow(window, at('2026-12-26T22:59:00Z'), 'Europe/Berlin')).toBe(true);
      expect(isInWindow(window, at('2026-12-26T23:00:00Z'), 'Europe/Berlin')).toBe(false);
    });
  });

  describe('when a weekly window wraps over the weekend', () => {
    const window = weekly('fri 17:00', 'mon 08:00');
    it('is on from Friday evening to Monday morning local time', () => {
      expect(isInWindow(window, at('2026-12-04T21:59:00Z'), 'America/New_York')).toBe(false); // Fri 16:59 EST
      expect(isInWindow(window, at('2026-12-04T22:00:00Z'), 'America/New_York')).toBe(true); // Fri 17:00
      expect(isInWindow(window, at('2026-12-06T12:00:00Z'), 'America/New_York')).toBe(true); // Sun
      expect(isInWindow(window, at('2026-12-07T12:59:00Z'), 'America/New_York')).toBe(true); // Mon 07:59
      expect(isInWindow(window, at('2026-12-07T13:00:00Z'), 'America/New_York')).toBe(false); // Mon 08:00
    });
  });

  describe('when DST starts inside a window (spring forward)', () => {
    // Europe/Berlin, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:00–03:00 never happens.
    const window = weekly('sun 02:00', 'sun 03:00');
    it('is never on for the hour that does not exist', () => {
      expect(isInWindow(window, at('2026-03-29T00:59:00Z'), 'Europe/Berlin')).toBe(false); // 01:59 CET
      expect(isInWindow(window, at('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe(false); // 03:00 CEST
    });
    it('keeps a window after the jump at local time', () => {
      const morning = weekly('sun 09:00', 'sun 10:00');
      expect(isInWindow(morning, at('2026-03-29T07:00:00Z'), 'Europe/Berlin')).toBe(true); // 09:00 CEST
      expect(isInWindow(morning, at('2026-03-29T08:00:00Z'), 'Europe/Berlin')).toBe(false); // 10:00 CEST
    });
  });

  describe('when DST ends inside a window (fall back)', () => {
    // America/New_York, Sunday 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    const window = absolute('2026-11-01 01:00', '2026-11-01 02:00');
    it('covers both occurrences of the repeated hour', () => {
      expect(isInWindow(window, at('2026-11-01T05:30:00Z'), 'America/New_York')).toBe(true); // 01:30 EDT
      expect(isInWindow(window, at('2026-11-01T06:30:00Z'), 'America/New_York')).toBe(true); // 01:30 EST
      expect(isInWindow(window, at('2026-11-01T07:00:00Z'), 'America/New_York')).toBe(false); // 02:00 EST
    });
  });

  describe('when times are written', () => {
    it('accepts dates, date-times and 24:00', () => {
      expect(parseLocalDateTime('2026-12-24')).toBe('2026-12-24T00:00');
      expect(parseLocalDateTime('2026-12-24T09:05')).toBe('2026-12-24T09:05');
      expect(parseLocalDateTime('2026-12-31 24:00')).toBe('2027-01-01T00:00');
      expect(parseWeeklyTime('Friday 17:00')).toBe(4 * 1440 + 17 * 60);
      expect(parseWeeklyTime('sun 24:00')).toBe(0);
    });
    it('rejects impossible dates and times', () => {
      expect(parseLocalDateTime('2026-02-30')).toBeUndefined();
      expect(parseLocalDateTime('2026-12-24 25:00')).toBeUndefined();
      expect(parseLocalDateTime('tomorrow')).toBeUndefined();
      expect(parseWeeklyTime('someday 10:00')).toBeUndefined();
    });
  });
});

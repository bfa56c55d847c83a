import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/cli/logger.ts';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'info') {
  const lines: string[] = [];
  const logger = createLogger(level, (line) => lines.push(line), { process: 'web', pid: 42 });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  describe('when fields carry secrets', () => {
    it('never writes a token, password, authorization header or signing key', () => {
      const { logger, lines } = capture();
      logger.info(
        {
          runId: 'run-1',
          token: 'plain-token-value-1',
          slackBotToken: 'xoxb-1111-2222-abcdef',
          headers: { Authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig' },
          db: { password: 'hunter2-password' },
          signingKey: 'hmac-sha256:supersecretkey',
          note: 'called with xoxb-9999-8888-zzz and AKIAABCDEFGHIJKLMNOP',
          err: new Error('failed: xapp-1-A1-secret'),
        },
        'posted with xoxp-3333-4444-qqq',
      );
      const text = lines.join('');
      for (const secret of ['plain-token-value-1', 'xoxb-1111', 'eyJhbGci', 'hunter2', 'supersecretkey', 'xoxb-9999', 'AKIAABCDEFGHIJKLMNOP', 'xapp-1-A1', 'xoxp-3333']) {
        expect(text).not.toContain(secret);
      }
      expect(text).toContain('[redacted]');
    });
  });

  describe('when an entry is written', () => {
    it('is one JSON line with level, time, base fields, the caller ids and msg', () => {
      const { logger, lines, parsed } = capture();
      logger.warn({ runId: 'run-1', stepId: 'check', incidentId: 'INC-7', requestId: 'req-9' }, 'step slow');
      expect(lines).toHaveLength(1);
      expect(lines[0]?.endsWith('\n')).toBe(true);
      const [entry] = parsed();
      expect(entry).toMatchObject({ level: 'warn', process: 'web', pid: 42, runId: 'run-1', stepId: 'check', incidentId: 'INC-7', requestId: 'req-9', msg: 'step slow' });
      expect(Number.isNaN(Date.parse(String(entry?.['time'])))).toBe(false);
    });
  });

  describe('when the level filters an entry out', () => {
    it('writes nothing below the level and debug only at debug', () => {
      const info = capture('warn');
      info.logger.info({}, 'hidden');
      info.logger.debug({}, 'hidden');
      expect(info.lines).toEqual([]);
      const debug = capture('debug');
      debug.logger.debug({ stepId: 's' }, 'shown');
      expect(debug.parsed()[0]).toMatchObject({ level: 'debug', msg: 'shown' });
    });
  });
});

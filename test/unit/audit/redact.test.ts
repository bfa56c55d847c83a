import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets } from '../../../src/audit/redact.ts';

describe('redactSecrets', () => {
  describe('when a key names a secret', () => {
    it.each(['token', 'slackBotToken', 'client_secret', 'Password', 'db_passwd', 'authorization', 'apiKey', 'api_key', 'X-API-KEY', 'private_key'])(
      'replaces the whole value under %s',
      (key) => {
        expect(redactSecrets({ [key]: { nested: 'anything' }, keep: 1 })).toEqual({ [key]: REDACTED, keep: 1 });
      },
    );

    it('keeps null and absent values, which reveal nothing', () => {
      expect(redactSecrets({ token: null, secret: undefined })).toEqual({ token: null, secret: undefined });
    });

    it('walks nested objects and arrays', () => {
      const value = { request: { headers: [{ name: 'x', authorization: 'Basic dXNlcjpwYXNz' }] } };
      expect(redactSecrets(value)).toEqual({ request: { headers: [{ name: 'x', authorization: REDACTED }] } });
    });
  });

  describe('when a string looks like a credential', () => {
    it.each([
      ['a Slack bot token', 'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp'],
      ['a Slack user token', 'xoxp-1234-5678-9012-abcdef'],
      ['a Slack app token', 'xapp-1-A0123-4567-abcdef'],
      ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
      ['an AWS temporary key id', 'ASIAIOSFODNN7EXAMPLE'],
      ['a bearer credential', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig'],
    ])('replaces %s', (_name, secret) => {
      expect(redactSecrets({ output: secret })).toEqual({ output: REDACTED });
    });

    it('replaces only the credential inside a longer string, keeping the context', () => {
      expect(redactSecrets(['curl -H "Authorization: Bearer abc.def-ghi" https://x', 'key AKIAIOSFODNN7EXAMPLE used twice: AKIAIOSFODNN7EXAMPLE']))
        .toEqual([`curl -H "Authorization: ${REDACTED}" https://x`, `key ${REDACTED} used twice: ${REDACTED}`]);
    });

    it('redacts a bare string value too', () => {
      expect(redactSecrets('xoxb-1-2-3')).toBe(REDACTED);
    });
  });

  describe('when nothing looks secret', () => {
    it('returns an equal value and leaves the input untouched', () => {
      const value = { model: 'model-x', replicas: 3, tags: ['xoxo', 'AKIA-short'], ok: true, none: null };
      const copy = structuredClone(value);
      const tainted = { ...value, apiKey: 'k' };
      expect(redactSecrets(value)).toEqual(value);
      redactSecrets(tainted);
      expect(value).toEqual(copy);
      expect(tainted.apiKey).toBe('k');
    });

    it('keeps an own __proto__ key as data, never as a prototype', () => {
      const parsed = JSON.parse('{"__proto__":{"token":"t"},"a":1}') as object;
      const redacted = redactSecrets(parsed) as Record<string, unknown>;
      expect(Object.getPrototypeOf(redacted)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(redacted, '__proto__')?.value).toEqual({ token: REDACTED });
    });
  });
});

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseWebhookSecrets, PagerDutySignatureError, signPagerDutyBody, verifyPagerDutySignature } from '../../../src/integrations/pagerduty-signature.ts';

// The shared vector (go-pagerduty webhookv3_test.go): byte-exact body, secret and header.
const VECTOR_BODY = readFileSync(fileURLToPath(new URL('../../../../shared/vectors/pagerduty_v3_signature_vector.body.json', import.meta.url)));
const VECTOR_TEXT = readFileSync(fileURLToPath(new URL('../../../../shared/vectors/pagerduty_v3_signature_vector.txt', import.meta.url)), 'utf8');
const VECTOR_SECRET = /^secret: (.+)$/m.exec(VECTOR_TEXT)?.[1] ?? '';
const VECTOR_HEADER = /^X-PagerDuty-Signature: (.+)$/m.exec(VECTOR_TEXT)?.[1] ?? '';

function refusal(secrets: readonly string[], body: Buffer, header: string | undefined): PagerDutySignatureError {
  try {
    verifyPagerDutySignature(secrets, body, header);
  } catch (error) {
    if (error instanceof PagerDutySignatureError) return error;
    throw error;
  }
  throw new Error('the delivery was accepted');
}

describe('verifyPagerDutySignature', () => {
  describe('when given the shared PagerDuty vector', () => {
    it('reads a 1655-byte body and a v1 header from the vector files', () => {
      expect(VECTOR_BODY.length).toBe(1655);
      expect(VECTOR_SECRET.length).toBeGreaterThan(20);
      expect(VECTOR_HEADER).toMatch(/^v1=[0-9a-f]{64}$/);
    });

    it('accepts the vector', () => {
      expect(() => verifyPagerDutySignature([VECTOR_SECRET], VECTOR_BODY, VECTOR_HEADER)).not.toThrow();
    });

    it('signs the vector body to the vector header', () => {
      expect(signPagerDutyBody(VECTOR_SECRET, VECTOR_BODY)).toBe(VECTOR_HEADER);
    });

    it('refuses the vector body with one byte changed (403)', () => {
      const tampered = Buffer.from(VECTOR_BODY);
      tampered[tampered.length - 3] = 0x20;
      const error = refusal([VECTOR_SECRET], tampered, VECTOR_HEADER);
      expect(error.code).toBe('pagerduty_signature_mismatch');
      expect(error.status).toBe(403);
    });
  });

  describe('when the header holds several signatures (PagerDuty rotating its secret)', () => {
    const body = Buffer.from('{"event":{"id":"E1"}}');
    it('accepts when any v1= entry matches', () => {
      const header = `v1=${'0'.repeat(64)}, ${signPagerDutyBody('new-secret', body)},v1=${'f'.repeat(64)}`;
      expect(() => verifyPagerDutySignature(['new-secret'], body, header)).not.toThrow();
    });

    it('ignores entries of other versions', () => {
      const header = `v2=${'a'.repeat(64)},${signPagerDutyBody('s', body)}`;
      expect(() => verifyPagerDutySignature(['s'], body, header)).not.toThrow();
    });

    it('refuses when no entry matches (403)', () => {
      const header = `${signPagerDutyBody('other', body)},${signPagerDutyBody('another', body)}`;
      expect(refusal(['s'], body, header).status).toBe(403);
    });
  });

  describe('when we are rotating our configured secrets', () => {
    const body = Buffer.from('{"event":{"id":"E2"}}');
    it('accepts a delivery signed with the old secret and one signed with the new', () => {
      expect(() => verifyPagerDutySignature(['old', 'new'], body, signPagerDutyBody('old', body))).not.toThrow();
      expect(() => verifyPagerDutySignature(['old', 'new'], body, signPagerDutyBody('new', body))).not.toThrow();
    });

    it('parses a comma-separated PAGERDUTY_WEBHOOK_SECRET, trimming blanks', () => {
      expect(parseWebhookSecrets(' old , new ,, ')).toEqual(['old', 'new']);
      expect(parseWebhookSecrets(undefined)).toEqual([]);
    });
  });

  describe('when the delivery is malformed', () => {
    const body = Buffer.from('{}');
    it.each([
      ['a missing header', undefined, 'pagerduty_signature_missing'],
      ['an empty header', '  ', 'pagerduty_signature_missing'],
      ['only other versions', `v0=${'a'.repeat(64)}`, 'pagerduty_signature_malformed'],
      ['a v1 that is not hex', 'v1=not-hex', 'pagerduty_signature_malformed'],
      ['a v1 of the wrong length', `v1=${'a'.repeat(63)}`, 'pagerduty_signature_malformed'],
    ])('answers 400 for %s', (_what, header, code) => {
      const error = refusal(['s'], body, header);
      expect(error.code).toBe(code);
      expect(error.status).toBe(400);
      expect(error.retryable).toBe(false);
    });

    it('answers 400 for an empty body even with a valid-looking signature', () => {
      const error = refusal(['s'], Buffer.alloc(0), signPagerDutyBody('s', ''));
      expect(error.code).toBe('pagerduty_body_empty');
      expect(error.status).toBe(400);
    });

    it('never echoes the secret or the signature in its message', () => {
      const signature = signPagerDutyBody('wrong', body);
      const error = refusal(['top-secret-value'], body, signature);
      expect(error.message).not.toContain('top-secret-value');
      expect(error.message).not.toContain(signature.slice(3));
    });
  });
});

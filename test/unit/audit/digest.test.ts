import { describe, expect, it } from 'vitest';
import { checkDigestRecord, digestRecordInput, generateDigestKeys, parseDigestKey } from '../../../src/audit/digest.ts';
import { sealAuditRecord } from '../../../src/audit/record.ts';

const head = { seq: 7, hash: 'a'.repeat(64) };
const sealed = (key: ReturnType<typeof parseDigestKey>) => sealAuditRecord(digestRecordInput(key, head, { id: 'd1', at: 10, reason: 'periodic' }), 8, head.hash);

describe('parseDigestKey', () => {
  describe('when given a generated key of either kind', () => {
    it.each(['ed25519', 'hmac-sha256'] as const)('signs with %s and verifies its own digests', (alg) => {
      const key = parseDigestKey(generateDigestKeys(alg).signingKey);
      expect(key).toMatchObject({ alg, canSign: true, keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(checkDigestRecord(sealed(key), key)).toBeUndefined();
    });
  });

  describe('when given an Ed25519 public key', () => {
    it('verifies what the private key signed but cannot sign', () => {
      const keys = generateDigestKeys('ed25519');
      const publicKey = parseDigestKey(keys.verifyKey);
      expect(publicKey.canSign).toBe(false);
      expect(publicKey.keyId).toBe(keys.keyId);
      expect(checkDigestRecord(sealed(parseDigestKey(keys.signingKey)), publicKey)).toBeUndefined();
      expect(() => publicKey.sign('x')).toThrow(/can verify digests but not sign/);
    });
  });

  describe('when given a PKCS8 DER Ed25519 key', () => {
    it('accepts it with the same key id as its raw seed', async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const { privateKey } = generateKeyPairSync('ed25519');
      const der = privateKey.export({ format: 'der', type: 'pkcs8' });
      const fromDer = parseDigestKey(`ed25519:${der.toString('base64')}`);
      const fromSeed = parseDigestKey(`ed25519:${der.subarray(16).toString('base64')}`);
      expect(fromDer.keyId).toBe(fromSeed.keyId);
    });
  });

  describe('when the key is malformed', () => {
    it.each([
      ['rsa:AAAA', 'not a recognised key'],
      ['hmac-sha256:c2hvcnQ=', 'need at least 16'],
      ['ed25519:AAAAAAAA', 'neither 32 raw bytes'],
    ])('rejects %s with audit_config_invalid, never echoing it', (text, why) => {
      const error = (() => { try { parseDigestKey(text); } catch (e) { return e as Error & { code: string }; } return undefined; })();
      expect(error).toMatchObject({ code: 'audit_config_invalid', message: expect.stringContaining(why) });
      expect(error?.message).not.toContain(text.split(':')[1]);
    });
  });
});

describe('checkDigestRecord', () => {
  describe('when the digest was altered', () => {
    it('reports a bad signature, a wrong head and a different key', () => {
      const key = parseDigestKey(generateDigestKeys('hmac-sha256').signingKey);
      const record = sealed(key);
      const data = record.data as Record<string, unknown>;
      expect(checkDigestRecord({ ...record, data: { ...data, signedAt: 11 } }, key)).toMatch(/signature does not verify/);
      expect(checkDigestRecord({ ...record, prevHash: 'b'.repeat(64) }, key)).toMatch(/signs seq 7 hash aaaaaaaaaaaa/);
      expect(checkDigestRecord(record, parseDigestKey(generateDigestKeys('hmac-sha256').signingKey))).toMatch(/not by the configured/);
      expect(checkDigestRecord({ ...record, data: 'nope' }, key)).toMatch(/not a digest/);
    });
  });
});

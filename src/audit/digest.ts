/**
 * Signed digests of the chain head (`audit.digest` records), so that cutting records off the end of
 * the log, or rewriting it and re-hashing, is detectable by anyone holding the verifying key.
 *
 * `AUDIT_SIGNING_KEY` formats (generate one with `runbook audit keygen`):
 * - `ed25519:<base64>`: a raw 32-byte Ed25519 seed, or a PKCS#8 DER private key. Verifiers need
 *   only the public key, `ed25519-public:<base64 raw 32 bytes or SPKI DER>`.
 * - `hmac-sha256:<base64>`: a secret of at least 16 bytes (32 recommended); verifying needs the same secret.
 *
 * A digest record's data is `{ alg, keyId, headSeq, headHash, signedAt, reason, signature }`; the
 * signature (lowercase hex) covers the canonical JSON of `{ alg, headHash, headSeq, keyId, signedAt, v: 1 }`.
 * It is sealed under the store's write lock right after the head it signs, so `headSeq` is always
 * its own `seq - 1` and `headHash` its own `prevHash`.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';
import { AuditStoreError } from './errors.ts';
import type { AuditRecord, AuditRecordInput } from './record.ts';

/** The type of digest records. */
export const DIGEST_TYPE = 'audit.digest';

/** What a digest record's `data` holds. */
export interface DigestData {
  readonly alg: 'ed25519' | 'hmac-sha256';
  /** First 16 hex digits of SHA-256 of the public key (Ed25519) or of the secret (HMAC). */
  readonly keyId: string;
  readonly headSeq: number;
  readonly headHash: string;
  readonly signedAt: number;
  readonly reason: string;
  readonly signature: string;
}

/** A parsed key: signs when it holds a private key or HMAC secret, always verifies. */
export interface DigestKey {
  readonly alg: DigestData['alg'];
  readonly keyId: string;
  readonly canSign: boolean;
  sign(payload: string): string;
  verify(payload: string, signatureHex: string): boolean;
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_FORMATS = '`ed25519:<base64 seed or PKCS8>`, `ed25519-public:<base64 raw or SPKI>` or `hmac-sha256:<base64 secret>`';

/**
 * Parses `AUDIT_SIGNING_KEY` (or a verify-only `ed25519-public:` key). Errors name the expected
 * format and never echo the key.
 *
 * @throws AuditStoreError `audit_config_invalid`
 */
export function parseDigestKey(text: string, source = 'AUDIT_SIGNING_KEY'): DigestKey {
  const match = /^(ed25519|ed25519-public|hmac-sha256):([A-Za-z0-9+/=_-]+)$/.exec(text.trim());
  const bad = (why: string) => new AuditStoreError('audit_config_invalid', `${source}: ${why}; expected ${KEY_FORMATS} (generate one with \`runbook audit keygen\`)`);
  if (!match) throw bad('not a recognised key');
  const [, kind, encoded = ''] = match;
  const bytes = Buffer.from(encoded, 'base64');
  if (kind === 'hmac-sha256') {
    if (bytes.length < 16) throw bad(`the HMAC secret is ${bytes.length} bytes, need at least 16`);
    return hmacKey(bytes);
  }
  try {
    if (kind === 'ed25519') {
      const der = bytes.length === 32 ? Buffer.concat([PKCS8_ED25519_PREFIX, bytes]) : bytes;
      const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
      return ed25519Key(createPublicKey(privateKey), privateKey);
    }
    const der = bytes.length === 32 ? Buffer.concat([SPKI_ED25519_PREFIX, bytes]) : bytes;
    const publicKey = createPublicKey({ key: der, format: 'der', type: 'spki' });
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return ed25519Key(publicKey, undefined);
  } catch (error) {
    if (error instanceof AuditStoreError) throw error;
    throw bad(`the ${kind} key is neither 32 raw bytes nor a DER ${kind === 'ed25519' ? 'PKCS8 private' : 'SPKI public'} Ed25519 key`);
  }
}

function ed25519Key(publicKey: KeyObject, privateKey: KeyObject | undefined): DigestKey {
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
  return {
    alg: 'ed25519',
    keyId: createHash('sha256').update(raw).digest('hex').slice(0, 16),
    canSign: privateKey !== undefined,
    sign(payload) {
      if (!privateKey) throw new AuditStoreError('audit_config_invalid', 'an ed25519-public key can verify digests but not sign them');
      return sign(null, Buffer.from(payload, 'utf8'), privateKey).toString('hex');
    },
    verify(payload, signatureHex) {
      if (!/^[0-9a-f]{128}$/.test(signatureHex)) return false;
      return verify(null, Buffer.from(payload, 'utf8'), publicKey, Buffer.from(signatureHex, 'hex'));
    },
  };
}

function hmacKey(secret: Buffer): DigestKey {
  const mac = (payload: string) => createHmac('sha256', secret).update(payload, 'utf8').digest();
  return {
    alg: 'hmac-sha256',
    keyId: createHash('sha256').update(secret).digest('hex').slice(0, 16),
    canSign: true,
    sign: (payload) => mac(payload).toString('hex'),
    verify(payload, signatureHex) {
      if (!/^[0-9a-f]{64}$/.test(signatureHex)) return false;
      return timingSafeEqual(mac(payload), Buffer.from(signatureHex, 'hex'));
    },
  };
}

/** New keys for `runbook audit keygen`: the signing key and what a verifier needs. */
export function generateDigestKeys(alg: DigestData['alg'] = 'ed25519'): { signingKey: string; verifyKey: string; keyId: string } {
  if (alg === 'hmac-sha256') {
    const signingKey = `hmac-sha256:${randomBytes(32).toString('base64')}`;
    return { signingKey, verifyKey: signingKey, keyId: parseDigestKey(signingKey).keyId };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519_PREFIX.length);
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
  const signingKey = `ed25519:${seed.toString('base64')}`;
  return { signingKey, verifyKey: `ed25519-public:${raw.toString('base64')}`, keyId: parseDigestKey(signingKey).keyId };
}

function signedPayload(data: Omit<DigestData, 'signature' | 'reason'>): string {
  return canonicalJson({ v: 1, alg: data.alg, keyId: data.keyId, headSeq: data.headSeq, headHash: data.headHash, signedAt: data.signedAt });
}

/** The digest record to seal right after `head` (under the write lock). */
export function digestRecordInput(key: DigestKey, head: { seq: number; hash: string }, options: { id: string; at: number; reason: string }): AuditRecordInput {
  const unsigned = { alg: key.alg, keyId: key.keyId, headSeq: head.seq, headHash: head.hash, signedAt: options.at };
  const data: DigestData = { ...unsigned, reason: options.reason, signature: key.sign(signedPayload(unsigned)) };
  return { id: options.id, at: options.at, actor: 'system', type: DIGEST_TYPE, data };
}

/** Why a digest record does not hold, or `undefined` when it does. `key` undefined: only its shape and head are checked. */
export function checkDigestRecord(record: AuditRecord, key: DigestKey | undefined): string | undefined {
  const data = record.data as Partial<DigestData> | null;
  if (typeof data !== 'object' || data === null || typeof data.signature !== 'string' || typeof data.headHash !== 'string' || typeof data.headSeq !== 'number') {
    return 'its data is not a digest ({ alg, keyId, headSeq, headHash, signedAt, signature })';
  }
  if (data.headSeq !== record.seq - 1 || data.headHash !== record.prevHash) {
    return `it signs seq ${data.headSeq} hash ${data.headHash.slice(0, 12)}… but follows seq ${record.seq - 1} hash ${record.prevHash.slice(0, 12)}…`;
  }
  if (key === undefined) return undefined;
  if (data.alg !== key.alg || data.keyId !== key.keyId) {
    return `it was signed by ${String(data.alg)} key ${String(data.keyId)}, not by the configured ${key.alg} key ${key.keyId}`;
  }
  const payload = signedPayload({ alg: data.alg, keyId: data.keyId, headSeq: data.headSeq, headHash: data.headHash, signedAt: data.signedAt as number });
  return key.verify(payload, data.signature) ? undefined : 'its signature does not verify: the digest was forged or altered';
}

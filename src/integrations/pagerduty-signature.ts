/**
 * PagerDuty webhooks v3 signatures (REFERENCE.md §2.1, go-pagerduty `webhookv3`).
 *
 * `X-PagerDuty-Signature` is a comma-separated list of `v1=<hex HMAC-SHA256 of the raw body>`
 * entries, several while PagerDuty rotates the subscription secret. A delivery is genuine when ANY
 * `v1=` entry matches the HMAC under ANY of our configured secrets (several on our side too, so
 * we can rotate without dropping deliveries). Other versions are ignored. Compares are constant
 * time. As go-pagerduty recommends: a missing or malformed header or an empty body is a 400, a
 * mismatch a 403 (PagerDuty drops, and does not redeliver, a 4xx other than 429).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { CodedError } from '../shared/coded-error.ts';

export const PAGERDUTY_SIGNATURE_HEADER = 'x-pagerduty-signature';

export type PagerDutySignatureErrorCode = 'pagerduty_signature_missing' | 'pagerduty_signature_malformed' | 'pagerduty_body_empty' | 'pagerduty_signature_mismatch';

/** Why a delivery was refused; `status` is the HTTP answer to give PagerDuty. */
export class PagerDutySignatureError extends CodedError<PagerDutySignatureErrorCode> {
  readonly status: 400 | 403;

  constructor(code: PagerDutySignatureErrorCode, message: string) {
    super(code, message, { retryable: false });
    this.status = code === 'pagerduty_signature_mismatch' ? 403 : 400;
  }
}

const V1_HEX = /^[0-9a-f]{64}$/i;

/** `v1=<hex>` for `body` under `secret`: what PagerDuty (and the stand-in) sends. */
export function signPagerDutyBody(secret: string, body: string | Buffer): string {
  return `v1=${hmacHex(secret, body)}`;
}

/**
 * Checks a delivery; throws {@link PagerDutySignatureError} when it must be refused. Never echoes
 * a secret or a signature in the message.
 */
export function verifyPagerDutySignature(secrets: readonly string[], body: Buffer, header: string | readonly string[] | undefined): void {
  const value = Array.isArray(header) ? header.join(',') : (header as string | undefined);
  if (value === undefined || value.trim() === '') {
    throw new PagerDutySignatureError('pagerduty_signature_missing', 'the X-PagerDuty-Signature header is missing; expected one or more comma-separated v1=<hex> entries');
  }
  if (body.length === 0) throw new PagerDutySignatureError('pagerduty_body_empty', 'the request body is empty; expected a PagerDuty v3 webhook event');
  const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
  const v1 = entries.filter((entry) => entry.startsWith('v1=')).map((entry) => entry.slice(3));
  if (v1.length === 0) {
    throw new PagerDutySignatureError('pagerduty_signature_malformed', `the X-PagerDuty-Signature header has no v1= entry (found ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} of other versions)`);
  }
  const wellFormed = v1.filter((hex) => V1_HEX.test(hex));
  if (wellFormed.length === 0) {
    throw new PagerDutySignatureError('pagerduty_signature_malformed', 'no v1= entry of X-PagerDuty-Signature is 64 hexadecimal characters (an HMAC-SHA256)');
  }
  const expected = secrets.filter((s) => s.length > 0).map((secret) => Buffer.from(hmacHex(secret, body), 'hex'));
  // Every pair is compared (no early exit on the secret side), each compare in constant time.
  let matched = false;
  for (const hex of wellFormed) {
    const got = Buffer.from(hex, 'hex');
    for (const want of expected) if (got.length === want.length && timingSafeEqual(got, want)) matched = true;
  }
  if (!matched) throw new PagerDutySignatureError('pagerduty_signature_mismatch', `no v1= signature (${wellFormed.length} given) matches the body under the configured webhook secret(s)`);
}

/** Parses `PAGERDUTY_WEBHOOK_SECRET`: one secret, or several comma-separated during rotation. */
export function parseWebhookSecrets(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function hmacHex(secret: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

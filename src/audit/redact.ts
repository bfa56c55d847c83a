/**
 * Pattern-based secret redaction, the audit store's second line of defence.
 *
 * Callers redact parameters declared secret; this catches what slips through (a token echoed in an
 * executor's output, an `Authorization` header in a captured request) before it is hashed into the
 * chain, after which it could never be removed without breaking verification. It errs towards
 * over-redaction: a lost `max_tokens` value is cheaper than a leaked credential.
 */

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

/** Keys whose whole value is replaced, whatever its type. */
const SECRET_KEY = /token|secret|passw(?:or)?d|authorization|api[_-]?key|private[_-]?key/i;

/**
 * Secret-looking substrings, replaced inside any string: Slack bot/user/app tokens (`xoxb-`,
 * `xoxp-`, the other `xox?-` kinds, `xapp-`), AWS access key ids (long-term `AKIA…` and temporary
 * `ASIA…`), and HTTP bearer credentials.
 */
const SECRET_TEXT: readonly RegExp[] = [
  /\bxox[abeoprs]-[A-Za-z0-9-]+/g,
  /\bxapp-[A-Za-z0-9-]+/g,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g,
  /\bBearer\s+[A-Za-z0-9._~+/-]+=*/gi,
];

/**
 * Returns a copy of `value` with obvious secrets replaced by `"[redacted]"`: the whole value under
 * any key matching /token|secret|password|authorization|api[_-]?key/i (also `passwd`,
 * `private_key`), and every secret-looking substring of every string (see {@link SECRET_TEXT}).
 * Arrays and plain objects are walked; other values are returned as they are. `value` is not
 * modified.
 *
 * @example redactSecrets({ slackToken: 'abc', note: 'sent with Bearer eyJhbGci' }) // { slackToken: '[redacted]', note: 'sent with [redacted]' }
 */
export function redactSecrets(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((item: unknown) => redactSecrets(item));
  if (typeof value !== 'object' || value === null || !isPlainObject(value)) return value;
  // Object.fromEntries defines properties, so an own `__proto__` key stays data, never a prototype.
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, isSecretKeyed(key, item) ? REDACTED : redactSecrets(item)]),
  );
}

/** `null` under a secret key says "none was given", which is worth keeping and reveals nothing. */
function isSecretKeyed(key: string, item: unknown): boolean {
  return SECRET_KEY.test(key) && item !== null && item !== undefined;
}

function redactText(text: string): string {
  let result = text;
  for (const pattern of SECRET_TEXT) result = result.replace(pattern, REDACTED);
  return result;
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The one error class of the Redis integration (STYLE.md rule 3): a string `code` to switch on
 * and an explicit `retryable` flag. This module owns its codes; callers across process boundaries switch on `code`, not `instanceof`.
 */

import { CodedError } from '../shared/coded-error.ts';

/** Every code a {@link RedisSetupError} can carry. */
export const REDIS_SETUP_ERROR_CODES = {
  /** `REDIS_URL` (or a URL passed in) is malformed or uses an unsupported scheme or option. */
  urlInvalid: 'redis_url_invalid',
  /** No `redis-server` binary was found for the embedded Redis. */
  serverMissing: 'redis_server_missing',
  /** The embedded `redis-server` exited or did not answer PING in time. */
  embeddedStartFailed: 'redis_embedded_start_failed',
  /** Another live process already runs the embedded Redis of this data directory. */
  embeddedInUse: 'redis_embedded_in_use',
  /** A process named in the pidfile is alive but could not be confirmed to be our stale server. */
  embeddedStale: 'redis_embedded_stale',
} as const;

/** A code from {@link REDIS_SETUP_ERROR_CODES}. */
export type RedisSetupErrorCode = (typeof REDIS_SETUP_ERROR_CODES)[keyof typeof REDIS_SETUP_ERROR_CODES];

/**
 * A Redis connection or embedded-server setup failure. Messages say what failed and how to fix
 * it, and never contain a password (URLs are redacted before they reach a message).
 */
export class RedisSetupError extends CodedError<RedisSetupErrorCode> {
  constructor(code: RedisSetupErrorCode, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * AWS Systems Manager client construction and the few client-level rules the SSM executors rely
 * on: how to tell a throttled call from a rejected one, how to retry an idempotent read, and how to
 * send the one non-idempotent call (`SendCommand`) without the SDK repeating it blindly.
 */
import { SSMClient, SendCommandCommand, type SSMClientConfig, type SendCommandCommandInput, type SendCommandCommandOutput } from '@aws-sdk/client-ssm';

/** Options for {@link createSsmClient}; everything unset comes from the AWS SDK's own settings. */
export interface SsmClientOptions {
  /** @default `AWS_REGION` (or the shared config file), read by the SDK */
  readonly region?: string;
  /** @default `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL`, else the regional AWS endpoint, read by the SDK */
  readonly endpoint?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: SSMClientConfig['credentials'];
  /** Attempts per call, including the first; throttling and transient errors are retried. @default 3 */
  readonly maxAttempts?: number;
  /** Socket idle timeout of one HTTP request. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** @default 5000 */
  readonly connectionTimeoutMs?: number;
}

/**
 * Builds an SSM client. Region, endpoint and credentials are the SDK's business (DESIGN.md §5):
 * `AWS_REGION`, `AWS_ENDPOINT_URL_SSM` and the default credential chain apply unless overridden here.
 */
export function createSsmClient(options: SsmClientOptions = {}): SSMClient {
  return new SSMClient({
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 30_000, connectionTimeout: options.connectionTimeoutMs ?? 5_000 },
  });
}

/**
 * What went wrong with an SSM call, as far as a caller deciding what to do next cares:
 * - `throttled`: rejected for rate, not processed; wait and call again;
 * - `transient`: network or server trouble; an idempotent call may be repeated;
 * - `outcome_unknown`: a `SendCommand` whose fate is unknown (the reply was lost): look before resending;
 * - `rejected`: SSM answered with a client error (`name` holds its code, e.g. `InvalidDocument`);
 * - `aborted`: the caller's signal fired;
 * - `config`: no region, no credentials: nothing an immediate retry would fix;
 * - `unexpected`: anything else (a bug, an unparseable reply): not retried here.
 */
export type SsmFailureKind = 'throttled' | 'transient' | 'outcome_unknown' | 'rejected' | 'aborted' | 'config' | 'unexpected';

const THROTTLING_CODES: ReadonlySet<string> = new Set([
  'ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'RequestThrottled',
  'RequestThrottledException', 'ThrottledException', 'SlowDown', 'TooManyUpdates',
]);
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
]);
const TRANSIENT_NAMES: ReadonlySet<string> = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'InternalServerError']);

interface SdkErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/**
 * Thrown instead of the real error when a `SendCommand` failed in a way that leaves its outcome
 * unknown (connection reset after the request went out, a 5xx, a timeout). Deliberately carries no
 * `cause`, `code` or status the SDK's retry classifier would recognise, so the SDK does not repeat it.
 */
export class SsmSendOutcomeUnknownError extends Error {
  override readonly name = 'SsmSendOutcomeUnknownError';
  /** The error the SDK saw, kept off `cause` so that the retry classifier does not follow it. */
  readonly original: unknown;

  constructor(original: unknown) {
    super(`SendCommand outcome unknown: ${describeSsmError(original)}`);
    this.original = original;
  }
}

/** Classifies any error an SSM call threw (see {@link SsmFailureKind}). */
export function classifySsmError(error: unknown): SsmFailureKind {
  if (error instanceof SsmSendOutcomeUnknownError) return 'outcome_unknown';
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof shape.name === 'string' ? shape.name : '';
  const status = shape.$metadata?.httpStatusCode ?? 0;
  if (name === 'AbortError') return 'aborted';
  if (THROTTLING_CODES.has(name) || status === 429) return 'throttled';
  if (TRANSIENT_NAMES.has(name) || status >= 500 || shape.$fault === 'server') return 'transient';
  if (typeof shape.code === 'string' && NETWORK_CODES.has(shape.code)) return 'transient';
  if (status >= 400) return 'rejected';
  if (name === 'CredentialsProviderError' || /region is missing/i.test(error instanceof Error ? error.message : '')) return 'config';
  return 'unexpected';
}

/** `Name: message`, short, for error messages (SDK errors carry the SSM code in `name`). */
export function describeSsmError(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, 500);
  return `${error.name}: ${error.message}`.slice(0, 500);
}

/**
 * Sends `SendCommand` with the SDK's retries limited to throttling. SSM has no idempotency token
 * for Run Command, so an SDK retry after a lost reply would run the command twice; instead, errors
 * that leave the outcome unknown surface as {@link SsmSendOutcomeUnknownError} and the caller
 * looks for the command (by its comment) before sending again.
 */
export async function sendCommandOnce(client: SSMClient, input: SendCommandCommandInput, signal: AbortSignal): Promise<SendCommandCommandOutput> {
  const command = new SendCommandCommand(input);
  // Added inside the retry middleware (finalizeRequest, priority high), so the SDK's retry loop
  // sees the replacement error and classifies it as a client error: not retried.
  command.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const kind = classifySsmError(error);
        throw kind === 'transient' ? new SsmSendOutcomeUnknownError(error) : error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'runbookSendCommandOutcome' },
  );
  return client.send(command, { abortSignal: signal });
}

/** How {@link retryIdempotent} waits and how often it tries. */
export interface IdempotentRetryOptions {
  readonly signal: AbortSignal;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** First wait after a throttled or transient failure; doubles each time. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Failures tolerated in a row before the last one is thrown. */
  readonly maxFailures: number;
  /** Told about each failure that will be retried, e.g. to log it. */
  readonly onRetry?: (error: unknown, kind: SsmFailureKind, delayMs: number) => void;
}

/**
 * Calls an idempotent SSM operation (a read, a cancel) until it succeeds, waiting out throttling
 * and transient failures with doubling delays. Rejections, config errors and aborts are thrown at once.
 */
export async function retryIdempotent<T>(call: () => Promise<T>, options: IdempotentRetryOptions): Promise<T> {
  for (let failures = 1; ; failures += 1) {
    try {
      return await call();
    } catch (error) {
      const kind = classifySsmError(error);
      if ((kind !== 'throttled' && kind !== 'transient') || failures >= options.maxFailures || options.signal.aborted) throw error;
      const delayMs = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (failures - 1));
      options.onRetry?.(error, kind, delayMs);
      await options.sleep(delayMs, options.signal);
    }
  }
}

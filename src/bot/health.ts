/**
 * `GET /healthz` (the process answers) and `GET /readyz` (it can do its job: Redis answers and the
 * runbooks are loaded), as web routes. A readiness check that hangs counts as failed.
 */
import { sendJson, type WebRoute } from './web-routes.ts';

/** One readiness check's result. */
export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

/** Named checks; the process is ready when every one is ok. */
export type ReadinessChecks = Readonly<Record<string, () => Promise<ReadinessCheck>>>;

/** A check that does not answer within this is failed. */
const CHECK_TIMEOUT_MS = 2_000;

/** Runs every check (each bounded by a timeout) and says whether all passed. */
export async function checkReadiness(checks: ReadinessChecks): Promise<{ ready: boolean; checks: Record<string, ReadinessCheck> }> {
  const results = await Promise.all(Object.entries(checks).map(async ([name, check]) => [name, await bounded(check)] as const));
  return { ready: results.every(([, r]) => r.ok), checks: Object.fromEntries(results) };
}

async function bounded(check: () => Promise<ReadinessCheck>): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ReadinessCheck>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch((error: unknown) => ({ ok: false, detail: error instanceof Error ? error.message : String(error) })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The two routes. */
export function healthRoutes(checks: ReadinessChecks): WebRoute[] {
  return [
    { path: '/healthz', method: ['GET', 'HEAD'], handler: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      path: '/readyz',
      method: ['GET', 'HEAD'],
      handler: (_req, res) => {
        void checkReadiness(checks).then(
          (result) => sendJson(res, result.ready ? 200 : 503, { status: result.ready ? 'ready' : 'not ready', checks: result.checks }),
          () => sendJson(res, 503, { status: 'not ready' }),
        );
      },
    },
  ];
}

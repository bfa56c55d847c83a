/**
 * What the web process serves for observability: `GET /metrics`, the queue dashboard at
 * `/admin/queues` (behind `AUDIT_TOKEN`, with `/admin/login`), and request timing/spans.
 */
import type { RequestListener } from 'node:http';
import { createAdminAuth, type AdminAuth, type AdminRoute } from './admin-auth.ts';
import { metricsRoute } from './metrics-route.ts';
import type { QueueSource } from './queues.ts';
import { queueDashboardRoutes } from './queue-dashboard.ts';
import type { ProcessObservability } from './setup.ts';

/** Paths the web process always has besides these routes (for the request timing's route label). */
const BOT_PATHS = [{ path: '/slack/events' }, { path: '/healthz' }, { path: '/readyz' }];

/**
 * The routes to add to the web process, and the request wrapper for `createBotApp`'s
 * `instrumentRequests`, labelling requests by these routes, Bolt's and `otherRoutes`.
 */
export function webObservability(observability: ProcessObservability, runtime: QueueSource, options: { readonly auditToken?: string; readonly auth?: AdminAuth; readonly otherRoutes?: readonly { readonly path: string; readonly prefix?: boolean }[] }): { routes: AdminRoute[]; instrumentRequests: (listener: RequestListener) => RequestListener } {
  const queues = observability.watch(runtime);
  const auth = options.auth ?? createAdminAuth({ token: options.auditToken });
  const routes: AdminRoute[] = [metricsRoute(observability.metrics), ...queueDashboardRoutes({ queues: queues.queues, auth })];
  return { routes, instrumentRequests: observability.instrumentRequests([...BOT_PATHS, ...routes, ...(options.otherRoutes ?? [])]) };
}

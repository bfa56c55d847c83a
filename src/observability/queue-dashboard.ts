/**
 * The queue dashboard (`@bull-board`) at `/admin/queues` of the web process, behind the admin
 * auth: an express app mounted as a prefix route, answering only after `requireAdmin` let the
 * request through. Read-only unless asked: a retried step job is safe (executors are idempotent)
 * but a deleted one is a lost step, so buttons stay off by default.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express from 'express';
import type { AdminAuth, AdminRoute } from './admin-auth.ts';

export interface QueueDashboardOptions {
  readonly queues: readonly Queue[];
  readonly auth: AdminAuth;
  /** @default '/admin/queues' */
  readonly basePath?: string;
  /** Allow retry/clean/remove buttons. @default true (read-only) */
  readonly readOnly?: boolean;
}

/** The dashboard route plus the login routes. */
export function queueDashboardRoutes(options: QueueDashboardOptions): AdminRoute[] {
  const basePath = options.basePath ?? '/admin/queues';
  const serverAdapter = new ExpressAdapter().setBasePath(basePath);
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: options.readOnly ?? true })),
    // @bull-board/express 9.10.1 carries its own @bull-board/api 9.10.1 beside ours (9.10.2): the
    // same adapter contract in two declarations, which TypeScript cannot see as one.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'Runbook Bot queues' } },
  });
  const app = express();
  app.disable('x-powered-by');
  app.use(basePath, serverAdapter.getRouter() as express.Router);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!options.auth.requireAdmin(req, res)) return;
    app(req as express.Request, res as express.Response);
  };
  return [{ method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'], path: basePath, prefix: true, handler }, ...options.auth.routes];
}

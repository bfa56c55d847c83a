/**
 * The web process's own HTTP routes beside Bolt's `POST /slack/events`: health, the PagerDuty
 * webhook, `/metrics`, the reviewer and admin pages. Each feature contributes a list of
 * {@link WebRoute}s; {@link createWebRequestListener} dispatches to them and hands everything
 * else to Bolt. Routes are matched on method and path (exactly, or by prefix for sub-trees
 * such as `/admin/queues/…`), never on anything a client controls beyond that.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

/** One route. A handler owns the response: it must end it, also on failure. */
export interface WebRoute {
  /** Upper-case methods; `HEAD` is not implied by `GET`. */
  readonly method: readonly string[];
  /** `/metrics`; with `prefix`, also everything below it (`/admin/queues/api/…`). */
  readonly path: string;
  /** @default false */
  readonly prefix?: boolean;
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
}

/** Dispatches to the first route that matches, else to `fallback` (Bolt's receiver). */
export function createWebRequestListener(routes: readonly WebRoute[], fallback: RequestListener, onError: (error: unknown, req: IncomingMessage) => void): RequestListener {
  return (req, res) => {
    const route = findRoute(routes, req.method ?? 'GET', pathOf(req.url));
    if (!route) {
      try {
        return fallback(req, res);
      } catch {
        // Bolt's receiver throws (HTTPReceiverDeferredRequestError) for a path it does not serve;
        // thrown from a 'request' listener, that would take the whole process down.
        if (!res.headersSent) sendJson(res, 404, { error: 'not_found' });
        else if (!res.writableEnded) res.end();
        return;
      }
    }
    Promise.resolve()
      .then(() => route.handler(req, res))
      .catch((error: unknown) => {
        onError(error, req);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        if (!res.writableEnded) res.end(JSON.stringify({ error: 'internal_error' }));
      });
  };
}

/** The route for a method and path, if any; a path the route knows with another method answers 405. */
export function findRoute(routes: readonly WebRoute[], method: string, path: string): WebRoute | undefined {
  const matching = routes.filter((r) => r.path === path || (r.prefix === true && path.startsWith(r.path.endsWith('/') ? r.path : `${r.path}/`)));
  if (matching.length === 0) return undefined;
  return matching.find((r) => r.method.includes(method)) ?? methodNotAllowed(path, matching.flatMap((r) => r.method));
}

function methodNotAllowed(path: string, allowed: readonly string[]): WebRoute {
  return {
    method: [],
    path,
    handler: (_req, res) => {
      res.writeHead(405, { allow: [...new Set(allowed)].join(', '), 'content-type': 'application/json' }).end(JSON.stringify({ error: 'method_not_allowed' }));
    },
  };
}

/** The path of a request target, without query or fragment. */
export function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const end = raw.search(/[?#]/);
  return end === -1 ? raw : raw.slice(0, end);
}

/** Reads a request body up to `limitBytes`; rejects with `code: 'body_too_large'` past it. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limitBytes) throw Object.assign(new Error(`request body larger than ${limitBytes} bytes`), { code: 'body_too_large' });
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

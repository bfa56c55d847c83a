import { describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../../../src/sandbox/loopback-server.ts';
import { createWebRequestListener, findRoute, pathOf, readBody, sendJson, type WebRoute } from '../../../src/bot/web-routes.ts';

const routes: WebRoute[] = [
  { method: ['GET'], path: '/metrics', handler: (_req, res) => sendJson(res, 200, { route: 'metrics' }) },
  { method: ['GET', 'POST'], path: '/admin/queues', prefix: true, handler: (req, res) => sendJson(res, 200, { route: 'admin', path: pathOf(req.url) }) },
  {
    method: ['POST'],
    path: '/echo',
    handler: async (req, res) => {
      const body = await readBody(req, 16);
      sendJson(res, 200, { echoed: body.toString('utf8') });
    },
  },
  { method: ['GET'], path: '/boom', handler: () => Promise.reject(new Error('route exploded')) },
];

describe('findRoute', () => {
  describe('when the path matches exactly', () => {
    it('returns the route for its method', () => {
      expect(findRoute(routes, 'GET', '/metrics')?.path).toBe('/metrics');
    });
  });

  describe('when a prefix route owns a sub-tree', () => {
    it('matches paths below it but not look-alike siblings', () => {
      expect(findRoute(routes, 'GET', '/admin/queues/api/queues')?.path).toBe('/admin/queues');
      expect(findRoute(routes, 'GET', '/admin/queuesX')).toBeUndefined();
    });
  });

  describe('when nothing matches', () => {
    it('returns undefined so the request falls through to Bolt', () => {
      expect(findRoute(routes, 'POST', '/slack/events')).toBeUndefined();
    });
  });
});

describe('createWebRequestListener', () => {
  async function serve() {
    const errors: string[] = [];
    const server = await listenOnLoopback(
      createWebRequestListener(routes, (_req, res) => sendJson(res, 404, { route: 'fallback' }), (error) => errors.push(error instanceof Error ? error.message : String(error))),
    );
    return { server, errors };
  }

  describe('when a known path is called with another method', () => {
    it('answers 405 with the allowed methods', async () => {
      const { server } = await serve();
      try {
        const response = await fetch(`${server.base}/metrics`, { method: 'DELETE' });
        expect(response.status).toBe(405);
        expect(response.headers.get('allow')).toBe('GET');
      } finally {
        await server.close();
      }
    });
  });

  describe('when the path is not a route', () => {
    it('hands the request to the fallback, query strings ignored for matching', async () => {
      const { server } = await serve();
      try {
        expect(await (await fetch(`${server.base}/slack/events`, { method: 'POST' })).json()).toEqual({ route: 'fallback' });
        expect(await (await fetch(`${server.base}/metrics?x=1`)).json()).toEqual({ route: 'metrics' });
      } finally {
        await server.close();
      }
    });
  });

  describe('when a body is larger than the route allows', () => {
    it('answers 500 without echoing it and reports the error', async () => {
      const { server, errors } = await serve();
      try {
        expect(await (await fetch(`${server.base}/echo`, { method: 'POST', body: 'short' })).json()).toEqual({ echoed: 'short' });
        const response = await fetch(`${server.base}/echo`, { method: 'POST', body: 'x'.repeat(64) });
        expect(response.status).toBe(500);
        expect(await response.text()).not.toContain('xxxx');
        expect(errors).toEqual(['request body larger than 16 bytes']);
      } finally {
        await server.close();
      }
    });
  });

  describe('when a handler rejects', () => {
    it('answers 500 and keeps serving', async () => {
      const { server, errors } = await serve();
      try {
        expect((await fetch(`${server.base}/boom`)).status).toBe(500);
        expect(errors).toEqual(['route exploded']);
        expect((await fetch(`${server.base}/metrics`)).status).toBe(200);
      } finally {
        await server.close();
      }
    });
  });
});

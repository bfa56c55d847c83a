import { afterEach, describe, expect, it } from 'vitest';
import { toStepError } from '../../../src/executors/contract.ts';
import { createHttpExecutor } from '../../../src/executors/http.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';
import { sendJson, startLoopback, type Loopback, type LoopbackHandler } from '../../fixtures/executors/loopback.ts';

const servers: Loopback[] = [];

async function serve(handler: LoopbackHandler): Promise<Loopback> {
  const server = await startLoopback(handler);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('http executor (loopback)', () => {
  describe('when a GET answers a JSON object', () => {
    it('puts the body fields at the top of the output and the status under _http', async () => {
      const server = await serve((_req, res) => sendJson(res, 200, { version: 'v41', replicas: 3 }, { etag: '"abc"' }));
      const { ctx } = createTestContext();
      const output = await createHttpExecutor().run({ url: `${server.origin}/v1/models/m`, query: { verbose: true, n: 2 } }, ctx);
      expect(output).toEqual({
        version: 'v41',
        replicas: 3,
        _http: {
          status: 200,
          url: `${server.origin}/v1/models/m?verbose=true&n=2`,
          redirects: 0,
          headers: { 'content-type': 'application/json', etag: '"abc"' },
          truncated: false,
        },
      });
      expect(server.requests[0]?.path).toBe('/v1/models/m?verbose=true&n=2');
    });

    it('logs the host of the request when no allowlist is configured', async () => {
      const server = await serve((_req, res) => sendJson(res, 200, {}));
      const { ctx, logs } = createTestContext();
      await createHttpExecutor().run({ url: `${server.origin}/` }, ctx);
      expect(logs).toContainEqual(expect.objectContaining({ level: 'info', fields: expect.objectContaining({ host: new URL(server.origin).host, allowed: true }) }));
    });
  });

  describe('when the body is not JSON', () => {
    it('reports the text and the status', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
      });
      const { ctx } = createTestContext();
      const output = await createHttpExecutor().run({ url: `${server.origin}/healthz` }, ctx);
      expect(output).toMatchObject({ text: 'ok\n', _http: { status: 200, truncated: false } });
    });
  });

  describe('when a POST carries a JSON body', () => {
    it('sends the body and the attempt idempotency key, the same key again on a redelivery', async () => {
      const server = await serve((_req, res) => sendJson(res, 201, { id: 'job-7' }));
      const { ctx } = createTestContext({ idempotencyKey: 'run-9/rollback/do/1' });
      const executor = createHttpExecutor();
      const args = { method: 'POST', url: `${server.origin}/jobs`, json: { model: 'm', to: 'previous' }, headers: { 'X-Team': 'ml' } };
      await executor.run(args, ctx);
      await executor.run(args, ctx);
      expect(server.requests.map((r) => r.headers['idempotency-key'])).toEqual(['run-9/rollback/do/1', 'run-9/rollback/do/1']);
      expect(server.requests[0]).toMatchObject({ method: 'POST', body: '{"model":"m","to":"previous"}' });
      expect(server.requests[0]?.headers).toMatchObject({ 'content-type': 'application/json', 'x-team': 'ml' });
    });

    it('sets the idempotency key even when the runbook names its own', async () => {
      const server = await serve((_req, res) => sendJson(res, 200, {}));
      const { ctx } = createTestContext({ idempotencyKey: 'k/1' });
      await createHttpExecutor().run({ method: 'PUT', url: server.origin, headers: { 'Idempotency-Key': 'mine' }, json: {} }, ctx);
      expect(server.requests[0]?.headers['idempotency-key']).toBe('k/1');
    });
  });

  describe('when the status is not expected', () => {
    it('fails a 404 as not retryable, quoting the body', async () => {
      const server = await serve((_req, res) => sendJson(res, 404, { error: 'no such model' }));
      const { ctx } = createTestContext();
      const error = await rejectionOf(createHttpExecutor().run({ url: `${server.origin}/v1/models/x` }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_unexpected_status', retryable: false });
      expect(error.message).toContain('404');
      expect(error.message).toContain('no such model');
    });

    it('fails a 503 as retryable and quotes Retry-After', async () => {
      const server = await serve((_req, res) => sendJson(res, 503, { error: 'busy' }, { 'retry-after': '7' }));
      const { ctx } = createTestContext();
      const error = await rejectionOf(createHttpExecutor().run({ url: server.origin }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_unexpected_status', retryable: true });
      expect(error.message).toContain('Retry-After: 7');
    });

    it('accepts a status the step lists', async () => {
      const server = await serve((_req, res) => sendJson(res, 404, { error: 'gone' }));
      const { ctx } = createTestContext();
      await expect(createHttpExecutor().run({ url: server.origin, expect: [404, '2xx'] }, ctx)).resolves.toMatchObject({ error: 'gone', _http: { status: 404 } });
    });
  });

  describe('when the server redirects', () => {
    it('follows up to max_redirects hops, then fails with http_too_many_redirects', async () => {
      const server = await serve((req, res) => {
        const n = Number(new URL(req.path, 'http://x').searchParams.get('n') ?? '0');
        res.writeHead(302, { location: `/hop?n=${n + 1}` });
        res.end();
      });
      const { ctx } = createTestContext();
      const error = await rejectionOf(createHttpExecutor().run({ url: `${server.origin}/hop?n=0`, max_redirects: 2 }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_too_many_redirects', retryable: false });
      expect(server.requests).toHaveLength(3);
    });

    it('keeps Authorization on the same origin and drops credentials on another', async () => {
      const other = await serve((_req, res) => sendJson(res, 200, { landed: 'other' }));
      const first = await serve((req, res) => {
        res.writeHead(307, { location: req.path === '/start' ? '/same' : `${other.origin}/elsewhere` });
        res.end();
      });
      const { ctx } = createTestContext();
      const output = await createHttpExecutor().run({ url: `${first.origin}/start`, headers: { Authorization: 'Bearer s3cret', Cookie: 'sid=1', 'X-Api-Key': 'k', 'X-Team': 'ml' } }, ctx);
      expect(output).toMatchObject({ landed: 'other', _http: { status: 200, redirects: 2, url: `${other.origin}/elsewhere` } });
      expect(first.requests.map((r) => r.headers.authorization)).toEqual(['Bearer s3cret', 'Bearer s3cret']);
      expect(other.requests[0]?.headers.authorization).toBeUndefined();
      expect(other.requests[0]?.headers.cookie).toBeUndefined();
      expect(other.requests[0]?.headers['x-api-key']).toBeUndefined();
      expect(other.requests[0]?.headers['x-team']).toBe('ml');
      expect(other.requests[0]?.headers['idempotency-key']).toBe(ctx.idempotencyKey);
    });

    it('checks the allowlist on every hop', async () => {
      const other = await serve((_req, res) => sendJson(res, 200, {}));
      const first = await serve((_req, res) => {
        res.writeHead(302, { location: `${other.origin}/` });
        res.end();
      });
      const allowHost = (url: URL) => (url.origin === first.origin ? { allowed: true } : { allowed: false, reason: 'not in policy.http.allow' });
      const { ctx } = createTestContext();
      const error = await rejectionOf(createHttpExecutor({ allowHost }).run({ url: first.origin }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_host_not_allowed', retryable: false });
      expect(error.message).toContain('not in policy.http.allow');
      expect(other.requests).toHaveLength(0);
    });
  });

  describe('when the host is not on the allowlist', () => {
    it('refuses before sending anything', async () => {
      const server = await serve((_req, res) => sendJson(res, 200, {}));
      const { ctx } = createTestContext();
      const error = await rejectionOf(createHttpExecutor({ allowHost: () => ({ allowed: false }) }).run({ method: 'DELETE', url: server.origin }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_host_not_allowed', retryable: false });
      expect(server.requests).toHaveLength(0);
    });
  });

  describe('when the call is aborted mid-request', () => {
    it('rejects with an abort, which the step reports as executor_aborted', async () => {
      let answered = false;
      const server = await serve(() => {
        // Never answers: the abort is the only way out.
      });
      const { ctx, controller } = createTestContext();
      const pending = createHttpExecutor().run({ url: `${server.origin}/slow` }, ctx).finally(() => (answered = true));
      await expect.poll(() => server.requests.length).toBe(1);
      expect(answered).toBe(false);
      controller.abort();
      const error = await rejectionOf(pending);
      expect(toStepError(error)).toMatchObject({ code: 'executor_aborted', retryable: false });
    });

    it('fails with a retryable http_timeout when the per-request deadline passes first', async () => {
      const server = await serve(() => undefined);
      const { ctx } = createTestContext();
      const error = await rejectionOf(createHttpExecutor({ requestTimeoutMs: 200 }).run({ url: server.origin }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_timeout', retryable: true });
    });
  });

  describe('when the response is huge', () => {
    it('reads only up to the limit and hangs up, marking the text truncated', async () => {
      let written = 0;
      let closed = false;
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.on('close', () => (closed = true));
        // An endless body: reading it all would never finish.
        const pump = () => {
          while (!closed && res.write(chunk)) written += chunk.length;
          if (!closed) res.once('drain', pump);
        };
        pump();
      });
      const { ctx } = createTestContext();
      const output = (await createHttpExecutor({ maxBodyBytes: 256 * 1024, maxTextChars: 1_000 }).run({ url: server.origin }, ctx)) as { text: string; _http: { truncated: boolean } };
      expect(output._http.truncated).toBe(true);
      expect(output.text.length).toBeLessThan(1_100);
      expect(output.text).toMatch(/…\[truncated \d+ bytes\]$/);
      await expect.poll(() => closed).toBe(true);
      expect(written).toBeLessThan(64 * 1024 * 1024);
    });
  });

  describe('when a secret param value comes back', () => {
    it('redacts it in the output and in error messages', async () => {
      const server = await serve((req, res) => sendJson(res, req.path.startsWith('/fail') ? 500 : 200, { echoed: req.headers['x-api-key'], [`k-${String(req.headers['x-api-key'])}`]: 1 }));
      const { ctx } = createTestContext({ secrets: ['hunter2-token'] });
      const executor = createHttpExecutor();
      const output = await executor.run({ url: `${server.origin}/ok?key=hunter2-token`, headers: { 'X-Api-Key': 'hunter2-token' } }, ctx);
      expect(JSON.stringify(output)).not.toContain('hunter2');
      expect(output).toMatchObject({ echoed: '[redacted]', 'k-[redacted]': 1 });
      const error = await rejectionOf(executor.run({ url: `${server.origin}/fail?key=hunter2-token`, headers: { 'X-Api-Key': 'hunter2-token' } }, ctx));
      expect(error.message).toContain('500');
      expect(error.message).not.toContain('hunter2');
    });
  });

  describe('when nothing listens on the port', () => {
    it('fails with a retryable http_network_error', async () => {
      const server = await serve(() => undefined);
      const origin = server.origin;
      await server.close();
      const { ctx } = createTestContext();
      const error = await rejectionOf(createHttpExecutor().run({ url: origin }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_network_error', retryable: true });
      expect(error.message).toContain('ECONNREFUSED');
    });
  });
});

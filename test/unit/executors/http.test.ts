import { describe, expect, it } from 'vitest';
import { toStepError } from '../../../src/executors/contract.ts';
import { createHttpExecutor } from '../../../src/executors/http.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

interface SentRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: string | undefined;
  readonly redirect: string | undefined;
}

/** A fetch that answers from a list, recording what it was asked; no network. */
function scriptedFetch(answers: readonly (() => Response)[]): { fetch: typeof fetch; sent: SentRequest[] } {
  const sent: SentRequest[] = [];
  const fetchStub = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const body = init?.body;
    sent.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof body === 'string' ? body : undefined,
      redirect: init?.redirect,
    });
    const answer = answers[sent.length - 1];
    if (!answer) throw new Error(`unexpected request ${sent.length}`);
    return answer();
  };
  return { fetch: fetchStub as typeof fetch, sent };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const redirect = (status: number, location: string) => () => new Response(null, { status, headers: { location } });

describe('http executor', () => {
  describe('when the body is JSON but not an object', () => {
    it('puts it under `body`', async () => {
      const { fetch } = scriptedFetch([json(200, [1, 2])]);
      const output = await createHttpExecutor({ fetch }).run({ url: 'https://serving.internal/list' }, createTestContext().ctx);
      expect(output).toMatchObject({ body: [1, 2], _http: { status: 200 } });
    });
  });

  describe('when there is no body', () => {
    it('reports only `_http`', async () => {
      const { fetch } = scriptedFetch([() => new Response(null, { status: 204 })]);
      const output = await createHttpExecutor({ fetch }).run({ method: 'DELETE', url: 'https://serving.internal/x' }, createTestContext().ctx);
      expect(output).toEqual({ _http: { status: 204, url: 'https://serving.internal/x', redirects: 0, headers: {}, truncated: false } });
    });
  });

  describe('when a JSON body is cut at the read limit', () => {
    it('reports it as truncated text rather than half a document', async () => {
      const { fetch } = scriptedFetch([json(200, { data: 'x'.repeat(500) })]);
      const output = await createHttpExecutor({ fetch, maxBodyBytes: 100 }).run({ url: 'https://serving.internal/' }, createTestContext().ctx);
      expect(output).toMatchObject({ text: expect.stringMatching(/^\{"data":"x+…\[truncated at 100 bytes\]$/), _http: { truncated: true } });
    });
  });

  describe('when a POST is redirected with 303', () => {
    it('continues as a GET without the body, sending every hop with redirect: manual', async () => {
      const { fetch, sent } = scriptedFetch([redirect(303, '/status/7'), json(200, { state: 'done' })]);
      const output = await createHttpExecutor({ fetch }).run({ method: 'POST', url: 'https://jobs.internal/jobs', json: { a: 1 } }, createTestContext().ctx);
      expect(output).toMatchObject({ state: 'done', _http: { redirects: 1, url: 'https://jobs.internal/status/7' } });
      expect(sent.map((s) => [s.method, s.url, s.body, s.redirect])).toEqual([
        ['POST', 'https://jobs.internal/jobs', '{"a":1}', 'manual'],
        ['GET', 'https://jobs.internal/status/7', undefined, 'manual'],
      ]);
      expect(sent[1]?.headers.get('content-type')).toBeNull();
    });
  });

  describe('when the step expects the redirect itself', () => {
    it('does not follow it', async () => {
      const { fetch, sent } = scriptedFetch([redirect(302, '/login')]);
      const output = await createHttpExecutor({ fetch }).run({ url: 'https://app.internal/', expect: [302] }, createTestContext().ctx);
      expect(output).toMatchObject({ _http: { status: 302, headers: { location: '/login' } } });
      expect(sent).toHaveLength(1);
    });
  });

  describe('when max_redirects is 0', () => {
    it('fails on the first redirect', async () => {
      const { fetch } = scriptedFetch([redirect(301, '/elsewhere')]);
      const error = await rejectionOf(createHttpExecutor({ fetch }).run({ url: 'https://app.internal/', max_redirects: 0 }, createTestContext().ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_too_many_redirects', retryable: false });
    });
  });

  describe('when a redirect points outside http(s)', () => {
    it('fails with http_redirect_invalid', async () => {
      const { fetch } = scriptedFetch([redirect(302, 'file:///etc/passwd')]);
      const error = await rejectionOf(createHttpExecutor({ fetch }).run({ url: 'https://app.internal/' }, createTestContext().ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_redirect_invalid', retryable: false });
    });
  });

  describe('when the server answers 429', () => {
    it('fails as retryable', async () => {
      const { fetch } = scriptedFetch([json(429, { error: 'slow down' })]);
      const error = await rejectionOf(createHttpExecutor({ fetch }).run({ url: 'https://api.internal/' }, createTestContext().ctx));
      expect(toStepError(error)).toMatchObject({ code: 'http_unexpected_status', retryable: true });
    });
  });

  describe('when the arguments are invalid at run time', () => {
    it.each([
      ['an unresolved template url', { url: '{{ params.host }}' }],
      ['a GET with a body', { url: 'https://a.internal/', json: { a: 1 } }],
      ['a status that is not one', { url: 'https://a.internal/', expect: ['ok'] }],
      ['an unknown argument', { url: 'https://a.internal/', body: 'x' }],
      ['an unresolved template for headers', { url: 'https://a.internal/', headers: '{{ steps.a.output.headers }}' }],
    ])('rejects %s with executor_input_invalid, sending nothing', async (_what, args) => {
      const { fetch, sent } = scriptedFetch([]);
      const error = await rejectionOf(createHttpExecutor({ fetch }).run(args, createTestContext().ctx));
      expect(toStepError(error)).toMatchObject({ code: 'executor_input_invalid', retryable: false });
      expect(sent).toHaveLength(0);
    });
  });

  describe('when the call is already aborted', () => {
    it('reports executor_aborted', async () => {
      const { ctx, controller } = createTestContext();
      controller.abort();
      const fetchStub = (async (_input: string | URL | Request, init?: RequestInit) => {
        init?.signal?.throwIfAborted();
        return new Response('{}');
      }) as typeof fetch;
      const error = await rejectionOf(createHttpExecutor({ fetch: fetchStub }).run({ url: 'https://a.internal/' }, ctx));
      expect(toStepError(error).code).toBe('executor_aborted');
    });
  });

  describe('plan', () => {
    const plan = (input: unknown) => createHttpExecutor().plan?.(input) ?? [];

    it('shows the request line with its query, the body and the expected statuses', () => {
      expect(plan({ method: 'POST', url: 'https://jobs.internal/v1/jobs', query: { dry: false }, json: { model: 'm' }, expect: [200, '2xx'] })).toEqual([
        'POST https://jobs.internal/v1/jobs?dry=false',
        'body: {"model":"m"}',
        'expects 200, 2xx',
        "follows up to 3 redirects, each host checked against the allowlist; sends the attempt's Idempotency-Key",
      ]);
    });

    it('hides the values of secret-looking headers and query parameters', () => {
      const lines = plan({ url: 'https://a.internal/?token=abc&x=1', query: { api_key: 'k1' }, headers: { Authorization: 'Bearer zzz', 'X-Model': 'm' } });
      expect(lines[0]).toBe('GET https://a.internal/?token=[hidden]&x=1&api_key=[hidden]');
      expect(lines[1]).toBe('headers: Authorization: [hidden], X-Model: m');
      expect(lines.join('\n')).not.toMatch(/abc|k1|zzz/);
    });

    it('shows run-time markers as they are', () => {
      expect(plan({ url: 'https://⟨steps.find.output.host⟩/v1', max_redirects: 0 })).toEqual([
        'GET https://⟨steps.find.output.host⟩/v1',
        'expects 2xx',
        "follows up to 0 redirects, each host checked against the allowlist; sends the attempt's Idempotency-Key",
      ]);
    });
  });
});

/**
 * The reviewer page at `/audit` on the web process (issue 7): read-only, behind `AUDIT_TOKEN`
 * (an `Authorization: Bearer` header, or the login form which sets a session cookie holding an
 * HMAC of the token, never the token). Every response carries a Content-Security-Policy that
 * allows no script at all and only our own stylesheet; every value from users, runbooks or
 * executors is escaped by `html.ts`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecord, VerifyResult } from '../../audit/index.ts';
import { pathOf, readBody, type WebRoute } from '../web-routes.ts';
import { loginPage, messagePage, runPage, runsPage, type RunFilters, type RunRow, type VerificationView } from './views.ts';

/** What the page reads; {@link auditPageSource} adapts an `AuditStore`. */
export interface AuditPageSource {
  /** Runs matching the filters, newest first, at most `limit`. */
  runs(filters: RunFilters, limit: number): Promise<{ rows: readonly RunRow[]; truncated: boolean }>;
  /** One run's records in seq order. */
  records(runId: string): Promise<readonly AuditRecord[]>;
  verify(): Promise<VerifyResult & { note?: string }>;
}

/** Options of {@link auditPageRoutes}. */
export interface AuditPageOptions {
  /** `AUDIT_TOKEN`; without one the page answers 503 and says how to enable it. */
  readonly token?: string;
  readonly source: AuditPageSource;
  /** How long a verification result is reused. @default 30000 */
  readonly verifyCacheMs?: number;
  /** Runs shown at most. @default 200 */
  readonly pageSize?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

const COOKIE = 'rb_audit';
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};
const STYLESHEET = readFileSync(new URL('./style.css', import.meta.url));
const RUN_ID = /^[A-Za-z0-9._-]{1,200}$/;
const FILTER_KEYS = ['runbook', 'actor', 'status', 'incident', 'since', 'until'] as const;

/** The routes: `/audit` (runs), `/audit/runs/<id>`, `/audit/login`, `/audit/logout`, `/audit/static/style.css`. */
export function auditPageRoutes(options: AuditPageOptions): WebRoute[] {
  const clock = options.clock ?? Date.now;
  const verify = cachedVerification(options.source, options.verifyCacheMs ?? 30_000, clock);
  const session = options.token ? sessionValue(options.token) : undefined;
  const signedIn = (req: IncomingMessage) => options.token !== undefined && session !== undefined && (bearerMatches(req, options.token) || cookieMatches(req, session));

  const page = async (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    if (path === '/audit/static/style.css') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }).end(STYLESHEET);
      return;
    }
    if (!options.token) return send(res, 503, messagePage('Audit page disabled', 'Set AUDIT_TOKEN on the web process to enable the reviewer page.'));
    if (path === '/audit/login') return login(req, res);
    if (req.method === 'POST') return send(res, 405, messagePage('Not allowed', 'This page is read-only.'));
    if (path === '/audit/logout') return redirect(res, '/audit/login', `${COOKIE}=; Path=/audit; HttpOnly; SameSite=Strict; Max-Age=0`);
    if (!signedIn(req)) {
      if (req.headers.authorization) return send(res, 401, messagePage('Not authorised', 'The bearer token is not the audit token.'));
      return redirect(res, '/audit/login');
    }
    if (path === '/audit' || path === '/audit/') {
      const filters = filtersOf(req.url);
      const { rows, truncated } = await options.source.runs(filters, options.pageSize ?? 200);
      return send(res, 200, runsPage(rows, filters, await verify(), truncated));
    }
    const match = /^\/audit\/runs\/([^/]+)$/.exec(path);
    const runId = match?.[1] ? safeDecode(match[1]) : undefined;
    if (runId && RUN_ID.test(runId)) {
      const records = await options.source.records(runId);
      if (records.length === 0) return send(res, 404, messagePage('Run not found', `The audit log has no records for run ${runId}.`));
      return send(res, 200, runPage(runId, records, await verify()));
    }
    return send(res, 404, messagePage('Not found', 'There is no such page.'));
  };

  const login = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return send(res, 200, loginPage());
    const form = new URLSearchParams((await readBody(req, 8_192)).toString('utf8'));
    const token = form.get('token') ?? '';
    if (!options.token || !session || !constantTimeEqual(token, options.token)) return send(res, 401, loginPage('That is not the audit token.'));
    const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
    return redirect(res, '/audit', `${COOKIE}=${session}; Path=/audit; HttpOnly; SameSite=Strict; Max-Age=43200${secure}`);
  };

  // A prefix route owns `/audit` itself and everything below it.
  return [{ method: ['GET', 'HEAD', 'POST'], path: '/audit', prefix: true, handler: page }];
}

/** Adapts an audit store: runs from their `run.started` / `run.finished` records. */
export function auditPageSource(store: {
  list(filter: { type?: string; runId?: string; afterSeq?: number; limit?: number }): Promise<readonly AuditRecord[]>;
  verify(): Promise<VerifyResult>;
}): AuditPageSource {
  const all = async (filter: { type?: string; runId?: string }) => {
    const out: AuditRecord[] = [];
    for (let afterSeq = 0; ;) {
      const page = await store.list({ ...filter, afterSeq, limit: 5_000 });
      out.push(...page);
      const last = page[page.length - 1];
      if (page.length < 5_000 || !last) return out;
      afterSeq = last.seq;
    }
  };
  return {
    runs: async (filters, limit) => {
      const [started, finished] = await Promise.all([all({ type: 'run.started' }), all({ type: 'run.finished' })]);
      const ends = new Map(finished.map((r) => [r.runId ?? '', r]));
      const since = filters.since ? Date.parse(filters.since) : Number.NaN;
      const until = filters.until ? Date.parse(filters.until) : Number.NaN;
      const rows = started
        .map((r): RunRow => {
          const end = ends.get(r.runId ?? '');
          const status = end && typeof (end.data as { status?: unknown }).status === 'string' ? String((end.data as { status: string }).status) : 'active';
          return { runId: r.runId ?? '', runbookId: r.runbookId ?? '', runbookHash: r.runbookHash ?? '', requester: r.actor, startedAt: r.at, status, ...(end ? { finishedAt: end.at } : {}), ...(r.incidentId ? { incidentId: r.incidentId } : {}) };
        })
        .filter((row) => (!filters.runbook || row.runbookId === filters.runbook)
          && (!filters.actor || row.requester === filters.actor)
          && (!filters.status || row.status === filters.status)
          && (!filters.incident || row.incidentId === filters.incident)
          && (Number.isNaN(since) || row.startedAt >= since)
          && (Number.isNaN(until) || row.startedAt <= until))
        .reverse();
      return { rows: rows.slice(0, limit), truncated: rows.length > limit };
    },
    records: (runId) => all({ runId }),
    verify: () => store.verify(),
  };
}

function cachedVerification(source: AuditPageSource, ttlMs: number, clock: () => number): () => Promise<VerificationView> {
  let cached: { at: number; view: VerificationView } | undefined;
  return async () => {
    const now = clock();
    if (cached && now - cached.at < ttlMs) return cached.view;
    const result = await source.verify();
    const view: VerificationView = result.ok
      ? { ok: true, count: result.count, checkedAt: now, ...(result.note ? { note: result.note } : {}) }
      : { ok: false, count: result.count, checkedAt: now, firstBadSeq: result.firstBadSeq, reason: result.reason, detail: result.detail };
    cached = { at: now, view };
    return view;
  };
}

function filtersOf(url: string | undefined): RunFilters {
  const query = new URL(url ?? '/', 'http://localhost').searchParams;
  const entries = FILTER_KEYS.flatMap((key) => {
    const value = query.get(key)?.trim().slice(0, 200);
    return value ? [[key, value] as const] : [];
  });
  return Object.fromEntries(entries) as RunFilters;
}

function sessionValue(token: string): string {
  return createHmac('sha256', token).update('runbook-bot audit session v1').digest('hex');
}

function bearerMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  return header.startsWith('Bearer ') && constantTimeEqual(header.slice(7).trim(), token);
}

function cookieMatches(req: IncomingMessage, session: string): boolean {
  const cookies = (req.headers.cookie ?? '').split(';').map((c) => c.trim());
  const value = cookies.find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1) ?? '';
  return constantTimeEqual(value, session);
}

/** Compares without leaking where two strings differ (lengths are hashed first). */
export function constantTimeEqual(a: string, b: string): boolean {
  const key = 'constant-time-compare';
  return timingSafeEqual(createHmac('sha256', key).update(a).digest(), createHmac('sha256', key).update(b).digest());
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }).end(body);
}

function redirect(res: ServerResponse, location: string, cookie?: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location, ...(cookie ? { 'set-cookie': cookie } : {}) }).end();
}

/**
 * The reviewer page at `/audit` on the web process (issue 7): read-only, behind `AUDIT_TOKEN`
 * through the admin pages' one sign-in (`/admin/login`, or an `Authorization: Bearer` header;
 * see src/observability/admin-auth.ts). Every response carries a Content-Security-Policy that
 * allows no script at all and only our own stylesheet; every value from users, runbooks or
 * executors is escaped by `html.ts`.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecord, AuditStore, VerifyResult } from '../../audit/index.ts';
import { pathOf, type WebRoute } from '../web-routes.ts';
import { messagePage, runPage, runsPage, type RunFilters, type RunRow, type VerificationView } from './views.ts';

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
  /** Who may read (`AUDIT_TOKEN`); answers for the request itself when not (503 disabled, 303 to sign in, 401). */
  readonly auth: { requireAdmin(req: IncomingMessage, res: ServerResponse): boolean };
  readonly source: AuditPageSource;
  /** How long a verification result is reused. @default 30000 */
  readonly verifyCacheMs?: number;
  /** Runs shown at most. @default 200 */
  readonly pageSize?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

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

/** The routes: `/audit` (runs), `/audit/runs/<id>`, `/audit/static/style.css`. */
export function auditPageRoutes(options: AuditPageOptions): WebRoute[] {
  const clock = options.clock ?? Date.now;
  const verify = cachedVerification(options.source, options.verifyCacheMs ?? 30_000, clock);

  const page = async (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    if (path === '/audit/static/style.css') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }).end(STYLESHEET);
      return;
    }
    if (!options.auth.requireAdmin(req, res)) return;
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

  // A prefix route owns `/audit` itself and everything below it.
  return [{ method: ['GET', 'HEAD'], path: '/audit', prefix: true, handler: page }];
}

/** Adapts an audit store (its `runs()` index, `stream()` and `verify()`). */
export function auditPageSource(store: Pick<AuditStore, 'runs' | 'stream' | 'verify'>): AuditPageSource {
  return {
    runs: async (filters, limit) => {
      const since = filters.since ? Date.parse(filters.since) : Number.NaN;
      const until = filters.until ? Date.parse(filters.until) : Number.NaN;
      const found = await store.runs({
        ...(filters.runbook ? { runbookId: filters.runbook } : {}),
        ...(filters.actor ? { requester: filters.actor } : {}),
        ...(filters.status ? { status: filters.status } : {}),
        ...(filters.incident ? { incidentId: filters.incident } : {}),
        ...(Number.isNaN(since) ? {} : { fromAt: since }),
        ...(Number.isNaN(until) ? {} : { toAt: until }),
        limit: limit + 1,
      });
      const rows = found.slice(0, limit).map((r): RunRow => ({
        runId: r.runId,
        runbookId: r.runbookId ?? '',
        runbookHash: r.runbookHash ?? '',
        requester: r.requester,
        startedAt: r.startedAt,
        status: r.status,
        ...(r.finishedAt !== undefined ? { finishedAt: r.finishedAt } : {}),
        ...(r.incidentId ? { incidentId: r.incidentId } : {}),
      }));
      return { rows, truncated: found.length > limit };
    },
    records: async (runId) => {
      const records: AuditRecord[] = [];
      for await (const record of store.stream({ runId })) records.push(record);
      return records;
    },
    verify: async () => {
      const result = await store.verify();
      return { ...result, note: digestNote(result.digests) };
    },
  };
}

/** What the banner says about signed digests (a truncated tail is only detectable with them). */
function digestNote(digests: VerifyResult['digests']): string {
  if (!digests || digests.checked + digests.unchecked === 0) return 'no signed digests yet (set AUDIT_SIGNING_KEY)';
  const checked = `${digests.checked} digest signature${digests.checked === 1 ? '' : 's'} checked`;
  return digests.unchecked > 0 ? `${checked}, ${digests.unchecked} not checkable without the key` : checked;
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


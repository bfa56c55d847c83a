/**
 * The sandbox's host mapping: which loopback stand-in answers for which production host.
 *
 * `SANDBOX_HOSTS` holds it, either as comma-separated pairs
 * (`serving-control.ml.internal=http://127.0.0.1:41234,metrics.ml.internal=http://127.0.0.1:41240`)
 * or as a JSON object (`{"serving-control.ml.internal":"http://127.0.0.1:41234"}`). It is
 * configuration for the `http` executor's `resolveUrl` option: the executor stays unaware of
 * sandboxes, and the runbook's URL (`https://serving-control.ml.internal/v1/models/m/deployment`)
 * is what the allowlist, logs and step outputs show; only the connection goes to the stand-in.
 *
 * A mapping may only point at loopback (127.0.0.1, ::1, localhost) over plain http: a typo in
 * this variable can never send production traffic somewhere else.
 */

/** The environment variable that holds the mapping. */
export const SANDBOX_HOSTS_ENV = 'SANDBOX_HOSTS';

/** Production host (lower case, `host` or `host:port`) → loopback base URL (origin plus an optional path prefix). */
export type HostMapping = ReadonlyMap<string, URL>;

/** A parsed `SANDBOX_HOSTS`, or every problem with it. */
export type HostMappingResult =
  | { readonly ok: true; readonly mapping: HostMapping }
  | { readonly ok: false; readonly problems: readonly string[] };

const HOST = /^(?=.{1,253}(?::\d{1,5})?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
const EXAMPLE = 'serving-control.ml.internal=http://127.0.0.1:41234,metrics.ml.internal=http://127.0.0.1:41240';

/**
 * Parses `SANDBOX_HOSTS` (pairs or a JSON object). Reports every problem at once, each saying
 * what was expected and what was found; an empty value is an empty mapping.
 */
export function parseHostMapping(raw: string): HostMappingResult {
  const text = raw.trim();
  const problems: string[] = [];
  const entries = text.startsWith('{') ? jsonEntries(text, problems) : pairEntries(text);
  const mapping = new Map<string, URL>();
  for (const [host, base] of entries) {
    if (base === undefined) {
      problems.push(`${SANDBOX_HOSTS_ENV}: expected host=http://127.0.0.1:PORT pairs separated by commas (${EXAMPLE}), found ${JSON.stringify(host.trim().slice(0, 80))}`);
      continue;
    }
    const key = host.trim().toLowerCase();
    if (!HOST.test(key)) {
      problems.push(`${SANDBOX_HOSTS_ENV}: expected a host name such as serving-control.ml.internal, found ${JSON.stringify(host.slice(0, 80))}`);
      continue;
    }
    const url = loopbackBase(key, base, problems);
    if (!url) continue;
    if (mapping.has(key)) problems.push(`${SANDBOX_HOSTS_ENV}: ${key} is mapped twice`);
    mapping.set(key, url);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, mapping };
}

/** `host=base` pairs in order; a pair without `=` comes back as `[text, undefined]`. */
function pairEntries(text: string): [string, string | undefined][] {
  if (text === '') return [];
  return text.split(',').map((pair) => {
    const at = pair.indexOf('=');
    return at > 0 ? [pair.slice(0, at), pair.slice(at + 1).trim()] : [pair, undefined];
  });
}

function jsonEntries(text: string, problems: string[]): [string, string][] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    problems.push(`${SANDBOX_HOSTS_ENV}: starts with { but is not JSON; expected {"serving-control.ml.internal":"http://127.0.0.1:41234"}`);
    return [];
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${SANDBOX_HOSTS_ENV}: expected a JSON object of host → base URL`);
    return [];
  }
  return Object.entries(value).flatMap(([host, base]): [string, string][] => {
    if (typeof base === 'string') return [[host, base]];
    problems.push(`${SANDBOX_HOSTS_ENV}: ${host}: expected a base URL string, found ${JSON.stringify(base)}`);
    return [];
  });
}

function loopbackBase(host: string, base: string, problems: string[]): URL | undefined {
  const url = URL.canParse(base) ? new URL(base) : undefined;
  if (!url || url.protocol !== 'http:' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    problems.push(`${SANDBOX_HOSTS_ENV}: ${host}: expected a base URL such as http://127.0.0.1:41234 (http, no query, no credentials), found ${JSON.stringify(base.slice(0, 80))}`);
    return undefined;
  }
  if (!LOOPBACK.has(url.hostname)) {
    problems.push(`${SANDBOX_HOSTS_ENV}: ${host}: stand-ins listen on loopback only (127.0.0.1, ::1, localhost), found ${url.hostname}`);
    return undefined;
  }
  return url;
}

/** The `SANDBOX_HOSTS` text for a mapping (comma-separated pairs), as {@link parseHostMapping} reads it. */
export function formatHostMapping(mapping: HostMapping | Readonly<Record<string, string>>): string {
  const entries = mapping instanceof Map ? [...mapping].map(([host, url]): [string, string] => [host, url.href]) : Object.entries(mapping);
  return entries.map(([host, base]) => `${host}=${base.replace(/\/$/, '')}`).join(',');
}

/**
 * Builds the `http` executor's `resolveUrl` from a mapping: a URL whose host is mapped goes to the
 * mapped base, keeping its path (after the base's own path, if any) and query; any other URL is
 * returned unchanged. Keys match `host:port` first, then the host name alone.
 */
export function createHostResolver(mapping: HostMapping): (url: URL) => URL {
  return (url) => {
    const base = mapping.get(url.host.toLowerCase()) ?? mapping.get(url.hostname.toLowerCase());
    if (!base) return url;
    const resolved = new URL(base.href);
    resolved.pathname = `${base.pathname.replace(/\/+$/, '')}${url.pathname}`;
    resolved.search = url.search;
    return resolved;
  };
}

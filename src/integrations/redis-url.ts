/**
 * Redis URLs: parsing into an explicit target, redaction for messages and logs, and building the
 * URL of a unix socket. We parse ourselves instead of handing the string to ioredis because
 * ioredis 6 knows neither `unix://` nor `redis+unix://`, and because a bad `REDIS_URL` must
 * produce one clear message (with the password masked), not a connection error minutes later.
 */
import { REDIS_SETUP_ERROR_CODES, RedisSetupError } from './redis-errors.ts';

/** Fields shared by every kind of target. */
interface RedisTargetAuth {
  /** ACL user name (Redis 6+); only together with a password. */
  username?: string;
  /** Never logged or echoed; see {@link redactRedisUrl}. */
  password?: string;
  /** Logical database index. @default 0 */
  db: number;
}

/** Where a Redis server listens and how to authenticate, parsed from a URL. */
export type RedisTarget =
  | (RedisTargetAuth & { kind: 'tcp'; host: string; port: number; tls: boolean })
  | (RedisTargetAuth & { kind: 'unix'; path: string });

/** The URL shapes {@link parseRedisUrl} accepts, quoted in every error message. */
export const REDIS_URL_EXPECTATION =
  'redis://[[user]:password@]host[:port][/db], rediss://… (TLS), or unix:///path/to/redis.sock[?db=N&password=…]';

const DEFAULT_PORT = 6379;
const TCP_SCHEMES = new Set(['redis:', 'rediss:']);
const UNIX_SCHEMES = new Set(['unix:', 'redis+unix:']);
const QUERY_KEYS = new Set(['db', 'password', 'username']);
const MAX_ECHO_CHARS = 200;

/**
 * Parses a Redis URL into a {@link RedisTarget}. Supported: `redis://`, `rediss://` (TLS),
 * `unix:///abs/path.sock` and `redis+unix:///abs/path.sock` (socket credentials and db go in the
 * query: `?db=2&password=…`). Every problem is reported at once.
 *
 * @param label names the value in messages, e.g. `REDIS_URL`.
 * @throws RedisSetupError `redis_url_invalid` (not retryable); the message never contains the password.
 */
export function parseRedisUrl(raw: string, label = 'REDIS_URL'): RedisTarget {
  const problems: string[] = [];
  const target = collectTarget(raw.trim(), problems);
  if (target === undefined || problems.length > 0) {
    const received = truncate(redactRedisUrl(raw.trim()));
    throw new RedisSetupError(
      REDIS_SETUP_ERROR_CODES.urlInvalid,
      `${label} is invalid: ${problems.join('; ')}. Expected ${REDIS_URL_EXPECTATION}; received "${received}".`,
      { retryable: false },
    );
  }
  return target;
}

function collectTarget(raw: string, problems: string[]): RedisTarget | undefined {
  if (raw === '') {
    problems.push('it is empty');
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(raw.startsWith('/') ? 'a bare path is not a URL (write unix:///path/to/redis.sock)' : 'it is not a URL');
    return undefined;
  }
  const scheme = url.protocol.toLowerCase();
  const isTcp = TCP_SCHEMES.has(scheme);
  if (!isTcp && !UNIX_SCHEMES.has(scheme)) {
    problems.push(`the scheme "${scheme}" is not supported`);
    return undefined;
  }
  const query = readQuery(url, problems);
  const auth = readAuth(url, query, problems);
  const hasPathDb = isTcp && url.pathname !== '' && url.pathname !== '/';
  if (hasPathDb && query.db !== undefined) problems.push('the database is given both in the path and as ?db=');
  const pathDb = hasPathDb ? readDb(url.pathname.slice(1), problems) : undefined;
  const db = pathDb ?? readDb(query.db, problems) ?? 0;
  if (isTcp) return { kind: 'tcp', ...readHostPort(url, problems), tls: scheme === 'rediss:', ...auth, db };
  return { kind: 'unix', path: readSocketPath(url, problems), ...auth, db };
}

function readQuery(url: URL, problems: string[]): Partial<Record<'db' | 'password' | 'username', string>> {
  const query: Partial<Record<'db' | 'password' | 'username', string>> = {};
  for (const [key, value] of url.searchParams) {
    if (key === 'db' || key === 'password' || key === 'username') query[key] = value;
    else problems.push(`the query parameter "${truncate(key, 40)}" is not supported (only ${[...QUERY_KEYS].join(', ')})`);
  }
  return query;
}

function readAuth(
  url: URL,
  query: Partial<Record<'password' | 'username', string>>,
  problems: string[],
): { username?: string; password?: string } {
  const fromAuthority = { username: decodePart(url.username, 'user name', problems), password: decodePart(url.password, 'password', problems) };
  if (fromAuthority.password !== undefined && query.password !== undefined) problems.push('the password is given twice (before @ and as ?password=)');
  if (fromAuthority.username !== undefined && query.username !== undefined) problems.push('the user name is given twice (before @ and as ?username=)');
  const username = fromAuthority.username ?? nonEmpty(query.username);
  const password = fromAuthority.password ?? nonEmpty(query.password);
  if (username !== undefined && password === undefined) {
    // `redis://secret@host` is a common slip for `redis://:secret@host`; Redis cannot AUTH a user without a password.
    problems.push('it has a user name but no password (write redis://:password@host for a password-only server)');
  }
  return { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
}

function decodePart(value: string, what: string, problems: string[]): string | undefined {
  if (value === '') return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    problems.push(`the ${what} is not valid percent-encoding`);
    return undefined;
  }
}

function readHostPort(url: URL, problems: string[]): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') problems.push('it has no host');
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
  if (port === 0) problems.push('port 0 is not a port a server listens on');
  return { host, port };
}

function readDb(value: string | undefined, problems: string[]): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) {
    problems.push(`the database must be a non-negative integer, got "${truncate(value, 40)}"`);
    return undefined;
  }
  return Number(value);
}

function readSocketPath(url: URL, problems: string[]): string {
  if (url.host !== '') problems.push(`a unix socket URL has no host (write unix:///path, with three slashes), got host "${truncate(url.host, 60)}"`);
  let path = '';
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    problems.push('the socket path is not valid percent-encoding');
  }
  if (!path.startsWith('/') || path.length < 2) problems.push('the socket path must be absolute');
  return path;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function truncate(text: string, max = MAX_ECHO_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/**
 * Masks credentials in anything that may be a Redis URL, for messages and logs: the password
 * (and a lone user name, which is often a misplaced password) become `***`, as does a
 * `password=` query value. Works on malformed input too, erring on the side of masking more:
 * without an `@`, anything after a `:` in the authority that is not a port is masked as well.
 */
export function redactRedisUrl(raw: string): string {
  const masked = raw.replace(/([?&]password=)[^&#]*/gi, '$1***');
  const separator = masked.indexOf('://');
  const authorityStart = separator === -1 ? 0 : separator + 3;
  const at = masked.lastIndexOf('@');
  if (at >= authorityStart) {
    const credentials = masked.slice(authorityStart, at);
    const colon = credentials.indexOf(':');
    const shown = separator !== -1 && colon !== -1 ? `${credentials.slice(0, colon)}:***` : '***';
    return `${masked.slice(0, authorityStart)}${shown}${masked.slice(at)}`;
  }
  if (separator === -1) return masked;
  const rest = masked.slice(authorityStart);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const hostEnd = authority.startsWith('[') ? authority.indexOf(']') + 1 : 0;
  const colon = authority.indexOf(':', hostEnd);
  if (colon === -1 || /^\d*$/.test(authority.slice(colon + 1))) return masked;
  // Probably `user:password` with the `@host` missing: mask it and everything after it.
  return `${masked.slice(0, authorityStart)}${authority.slice(0, colon)}:***`;
}

/** A credential-free description of a target for logs: `redis://host:6379/0`, `unix:///x.sock`. */
export function describeRedisTarget(target: RedisTarget): string {
  if (target.kind === 'unix') return `${unixSocketUrl(target.path)}${target.db === 0 ? '' : `?db=${target.db}`}`;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.tls ? 'rediss' : 'redis'}://${host}:${target.port}/${target.db}`;
}

/** The `unix:///…` URL of a socket path, each segment percent-encoded so any path round-trips. */
export function unixSocketUrl(path: string): string {
  return `unix://${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Canonical JSON: the one byte-exact serialization that audit hashes are computed over.
 *
 * Object keys are sorted recursively by UTF-16 code units, there is no whitespace, properties whose
 * value is `undefined` are omitted, and strings and numbers are written exactly as `JSON.stringify`
 * writes them. For plain JSON values this is the JSON Canonicalization Scheme (RFC 8785), so a
 * reviewer tool in another language can recompute a record hash without this code.
 */

/** Thrown by {@link canonicalJson} for a value that is not plain JSON; `path` is where (`$.a[2].b`). */
export class CanonicalJsonError extends TypeError {
  readonly code = 'canonical_json_invalid';
  readonly retryable = false;
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'CanonicalJsonError';
    this.path = path;
  }
}

/**
 * Serializes `value` canonically.
 *
 * Like `JSON.stringify`, `toJSON()` is honoured (a `Date` becomes its ISO string) and `undefined`
 * inside an array becomes `null`. Unlike it, anything that would be silently lost or changed is
 * refused with a {@link CanonicalJsonError}: non-finite numbers, bigints, functions, symbols, cycles,
 * and objects that are neither arrays nor plain objects (`Map`, `Set`, class instances).
 *
 * @example canonicalJson({ b: [1, { d: true, c: null }], a: 'x', z: undefined }) // '{"a":"x","b":[1,{"c":null,"d":true}]}'
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, '$', new Set());
  if (text === undefined) throw new CanonicalJsonError('$', 'expected a JSON value, received undefined');
  return text;
}

/** Returns the canonical text of `value`, or `undefined` where JSON would omit it. */
function write(input: unknown, path: string, ancestors: Set<object>): string | undefined {
  const value = applyToJson(input, path);
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(path, `expected a finite number, received ${String(value)}`);
      return JSON.stringify(value);
    case 'object':
      if (value === null) return 'null';
      return writeContainer(value, path, ancestors);
    default:
      throw new CanonicalJsonError(path, `expected a JSON value, received a ${typeof value}`);
  }
}

function writeContainer(value: object, path: string, ancestors: Set<object>): string {
  if (ancestors.has(value)) throw new CanonicalJsonError(path, 'expected a tree, received a cyclic reference');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const items = value.map((item: unknown, index) => write(item, `${path}[${index}]`, ancestors) ?? 'null');
      return `[${items.join(',')}]`;
    }
    if (!isPlainObject(value)) {
      const kind = value.constructor?.name ?? 'object';
      throw new CanonicalJsonError(path, `expected a plain object or array, received a ${kind}`);
    }
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const text = write(record[key], `${path}.${key}`, ancestors);
      if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}

function applyToJson(value: unknown, path: string): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const toJson: unknown = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson !== 'function') return value;
  const converted: unknown = toJson.call(value);
  if (converted === value) throw new CanonicalJsonError(path, 'toJSON() returned the object itself');
  return converted;
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

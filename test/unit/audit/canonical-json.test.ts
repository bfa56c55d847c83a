import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError } from '../../../src/audit/canonical-json.ts';

describe('canonicalJson', () => {
  describe('when given nested objects', () => {
    it('sorts keys at every depth and writes no whitespace', () => {
      expect(canonicalJson({ b: [1, { d: true, c: null }], a: 'x', ab: { z: 1, y: [] } }))
        .toBe('{"a":"x","ab":{"y":[],"z":1},"b":[1,{"c":null,"d":true}]}');
    });

    it('gives the same text whatever order the keys were inserted in', () => {
      expect(canonicalJson({ x: 1, y: { p: 2, q: 3 } })).toBe(canonicalJson({ y: { q: 3, p: 2 }, x: 1 }));
    });

    it('sorts keys by UTF-16 code units, as RFC 8785 does', () => {
      expect(canonicalJson({ b: 1, B: 2, é: 3, '10': 4, '9': 5 })).toBe('{"10":4,"9":5,"B":2,"b":1,"é":3}');
    });
  });

  describe('when values are undefined', () => {
    it('omits object properties whose value is undefined', () => {
      expect(canonicalJson({ a: undefined, b: 1, c: { d: undefined } })).toBe('{"b":1,"c":{}}');
    });

    it('writes null for undefined array items, as JSON.stringify does', () => {
      expect(canonicalJson([1, undefined, 3])).toBe('[1,null,3]');
    });

    it('refuses a top-level undefined', () => {
      expect(() => canonicalJson(undefined)).toThrow(CanonicalJsonError);
    });
  });

  describe('when given scalars', () => {
    it('writes strings and numbers exactly as JSON.stringify does', () => {
      const value = { s: 'quote " back \\ nl \n tab \t uni \u2028 emoji 😀', n: [0, -0, 1.5, 1e21, -1e-7, 123456789012345] };
      expect(canonicalJson(value)).toBe(`{"n":[0,0,1.5,1e+21,-1e-7,123456789012345],"s":${JSON.stringify(value.s)}}`);
    });

    it('applies toJSON, so a Date becomes its ISO string', () => {
      expect(canonicalJson({ when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) })).toBe('{"when":"2024-01-02T03:04:05.000Z"}');
    });

    it('round-trips: the canonical text of its own parse is itself', () => {
      const text = canonicalJson({ z: [{ b: 2, a: 1 }], a: 'é', m: null });
      expect(canonicalJson(JSON.parse(text))).toBe(text);
    });
  });

  describe('when a value is not plain JSON', () => {
    it.each([
      ['NaN', { a: { b: Number.NaN } }, '$.a.b'],
      ['Infinity', [1, Number.POSITIVE_INFINITY], '$[1]'],
      ['a bigint', { n: 10n }, '$.n'],
      ['a function', { f: () => 1 }, '$.f'],
      ['a symbol', { s: Symbol('x') }, '$.s'],
      ['a Map', { m: new Map([['k', 1]]) }, '$.m'],
      ['a class instance', { c: new (class Widget { x = 1; })() }, '$.c'],
    ])('refuses %s and names where it is', (_name, value, path) => {
      let thrown: unknown;
      try { canonicalJson(value); } catch (error) { thrown = error; }
      expect(thrown).toBeInstanceOf(CanonicalJsonError);
      expect(thrown).toMatchObject({ path });
    });

    it('refuses a cycle but accepts the same object referenced twice', () => {
      const shared = { k: 1 };
      expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = cyclic;
      expect(() => canonicalJson(cyclic)).toThrow(/\$\.self: .*cyclic/);
    });

    it('accepts objects without a prototype', () => {
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 2, a: 1 });
      expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
    });
  });
});

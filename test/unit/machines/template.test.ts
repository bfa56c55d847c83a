import { describe, expect, it } from 'vitest';
import {
  TemplateEvalError, TemplateSyntaxError, collectReferences, evaluateCondition, formatPath, hasTemplate,
  parseCondition, parseTemplate, renderTemplate, renderValue, type TemplateScope,
} from '../../../src/machines/template.ts';

const scope: TemplateScope = {
  params: { model: 'model-x', version: '', replicas: '3', force: true, empty: null, name: '  Ada  ', tags: ['a', 'b'] },
  steps: {
    current: { status: 'succeeded', output: { version: 'v41', healthy: false, count: 7, items: [{ id: 'i-1' }], meta: { a: 1 } } },
    'check-db': { status: 'failed', output: { 'odd key': 'yes' } },
  },
  run: { id: 'run_123' },
  incident: null,
  partition: '2024-05-01',
};

function syntaxError(fn: () => unknown): TemplateSyntaxError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TemplateSyntaxError) return error;
    throw error;
  }
  throw new Error('expected a TemplateSyntaxError');
}

function evalError(fn: () => unknown): TemplateEvalError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TemplateEvalError) return error;
    throw error;
  }
  throw new Error('expected a TemplateEvalError');
}

describe('template', () => {
  describe('when a string holds no {{', () => {
    it('is plain text', () => {
      expect(hasTemplate('just } text {')).toBe(false);
      expect(renderTemplate('just } text {', scope)).toBe('just } text {');
      expect(parseTemplate('plain').isSingleExpression).toBe(false);
    });
  });

  describe('when interpolating into text', () => {
    it('substitutes every reference', () => {
      expect(renderTemplate('Roll {{ params.model }} back from {{ steps.current.output.version }}?', scope))
        .toBe('Roll model-x back from v41?');
    });

    it('writes objects and arrays as JSON, null as empty, numbers and booleans via String', () => {
      expect(renderTemplate('m={{ steps.current.output.meta }} t={{ params.tags }}', scope)).toBe('m={"a":1} t=["a","b"]');
      expect(renderTemplate('[{{ params.empty }}] {{ steps.current.output.count }} {{ params.force }}', scope)).toBe('[] 7 true');
    });

    it('reads hyphenated step ids, indexes, quoted keys, and bare roots', () => {
      expect(renderTemplate("{{ steps.check-db.output['odd key'] }}/{{ steps.current.output.items[0].id }}", scope)).toBe('yes/i-1');
      expect(renderTemplate('day {{ partition }} of {{ run.id }}', scope)).toBe('day 2024-05-01 of run_123');
    });

    it('treats {{ and }} inside a quoted string literal as text', () => {
      expect(renderTemplate("a {{ params.missing | default: '}} {{' }} b", scope)).toBe('a }} {{ b');
      expect(renderTemplate('{{ "say \\"hi\\"\\n" }}', scope)).toBe('say "hi"\n');
    });
  });

  describe('when the string is exactly one {{ expr }}', () => {
    it('keeps the value type, ignoring surrounding whitespace', () => {
      expect(parseTemplate('  {{ steps.current.output.count }} ').isSingleExpression).toBe(true);
      expect(renderTemplate('  {{ steps.current.output.count }} ', scope)).toBe(7);
      expect(renderTemplate('{{ steps.current.output.meta }}', scope)).toEqual({ a: 1 });
      expect(renderTemplate('{{ params.empty }}', scope)).toBeNull();
      expect(renderTemplate('{{ -2.5 }}', scope)).toBe(-2.5);
      expect(renderTemplate('{{ steps.current.output.count > 5 }}', scope)).toBe(true);
    });
  });

  describe('when applying filters', () => {
    it('default replaces undefined, null and empty string but keeps other falsy values', () => {
      expect(renderTemplate("{{ params.missing | default: 'previous' }}", scope)).toBe('previous');
      expect(renderTemplate("{{ params.empty | default: 'previous' }}", scope)).toBe('previous');
      expect(renderTemplate("{{ params.version | default('previous') }}", scope)).toBe('previous');
      expect(renderTemplate('{{ steps.current.output.healthy | default: true }}', scope)).toBe(false);
      expect(renderTemplate('{{ params.missing | default: 3 }}', scope)).toBe(3);
      expect(renderTemplate('{{ params.model | default: "x" }}', scope)).toBe('model-x');
    });

    it('json, lower, upper, trim and length transform the value', () => {
      expect(renderTemplate('{{ steps.current.output.meta | json }}', scope)).toBe('{"a":1}');
      expect(renderTemplate('{{ params.model | upper }}', scope)).toBe('MODEL-X');
      expect(renderTemplate("{{ 'ABC' | lower }}", scope)).toBe('abc');
      expect(renderTemplate('{{ params.name | trim | upper }}', scope)).toBe('ADA');
      expect(renderTemplate('{{ params.tags | length }}', scope)).toBe(2);
      expect(renderTemplate('{{ params.model | length }}', scope)).toBe(7);
      expect(renderTemplate('{{ steps.current.output.meta | length }}', scope)).toBe(1);
    });

    it('rejects a value a filter cannot handle', () => {
      expect(evalError(() => renderTemplate('{{ params.tags | upper }}', scope)).code).toBe('template_eval');
      expect(evalError(() => renderTemplate('{{ steps.current.output.count | length }}', scope)).retryable).toBe(false);
    });
  });

  describe('when evaluating conditions', () => {
    it('combines and / or / not and their symbol forms with parentheses', () => {
      expect(evaluateCondition('steps.current.output.healthy == false', scope)).toBe(true);
      expect(evaluateCondition("not steps.current.output.healthy and params.model == 'model-x'", scope)).toBe(true);
      expect(evaluateCondition('!params.force || (steps.current.output.count >= 7 && steps.current.output.count < 8)', scope)).toBe(true);
      expect(evaluateCondition('params.force and (steps.current.output.healthy or params.missing)', scope)).toBe(false);
      expect(evaluateCondition("steps.check-db.status != 'succeeded'", scope)).toBe(true);
    });

    it('accepts a single {{ expr }} wrapper', () => {
      expect(evaluateCondition('{{ params.force }}', scope)).toBe(true);
      expect(evaluateCondition(' {{ params.tags | length > 2 }} ', scope)).toBe(false);
    });

    it('treats false, null, undefined, 0, empty string and empty list as false', () => {
      const falsy: TemplateScope = { params: { f: false, n: null, z: 0, s: '', l: [], o: {} } };
      for (const name of ['f', 'n', 'z', 's', 'l', 'missing']) expect(evaluateCondition(`params.${name}`, falsy)).toBe(false);
      expect(evaluateCondition('params.o', falsy)).toBe(true);
    });

    it('compares a number with a numeric string numerically, and nothing else loosely', () => {
      expect(evaluateCondition('params.replicas == 3', scope)).toBe(true);
      expect(evaluateCondition('params.replicas > 2.5', scope)).toBe(true);
      expect(evaluateCondition("params.force == 'true'", scope)).toBe(false);
      expect(evaluateCondition("'10' < '9'", scope)).toBe(true);
    });

    it('treats an unresolved operand as equal to nothing', () => {
      expect(evaluateCondition('steps.later.output.ok == true', scope)).toBe(false);
      expect(evaluateCondition('steps.later.output.ok != true', scope)).toBe(true);
      expect(evaluateCondition('steps.later.output.n > 1', scope)).toBe(false);
      expect(evaluateCondition('incident.id == null', scope)).toBe(false);
    });

    it('refuses to order values of different kinds, naming the reference', () => {
      const error = evalError(() => evaluateCondition('steps.current.output.meta < 3', scope));
      expect(error.path).toBe('steps.current.output.meta');
      expect(error.message).toContain("'<' compares two numbers or two strings");
    });

    it('asks onUnresolved when the whole condition is one unresolved reference', () => {
      expect(evaluateCondition('steps.later.output.ok', scope, { onUnresolved: () => true })).toBe(true);
    });

    it('rejects a condition made of more than one expression', () => {
      expect(syntaxError(() => parseCondition('{{ params.a }} {{ params.b }}')).offset).toBe(15);
      expect(syntaxError(() => parseCondition('{{ params.a }} and more')).offset).toBe(15);
    });
  });

  describe('when collecting references', () => {
    it('lists every reference in source order with its offset', () => {
      const text = "Roll {{ params.model }} from {{ steps.current.output.version | default: 'x' }} {{ steps.c['k'][0] }}";
      expect(collectReferences(parseTemplate(text))).toEqual([
        { path: ['params', 'model'], offset: 8 },
        { path: ['steps', 'current', 'output', 'version'], offset: 32 },
        { path: ['steps', 'c', 'k', '0'], offset: 82 },
      ]);
    });

    it('finds references inside conditions', () => {
      const refs = collectReferences(parseCondition('not (params.a == 1 or steps.b.status != params.c | lower)'));
      expect(refs.map((r) => [r.path.join('.'), r.offset])).toEqual([['params.a', 5], ['steps.b.status', 22], ['params.c', 40]]);
    });
  });

  describe('when a reference cannot be resolved', () => {
    it('throws TemplateEvalError naming the path', () => {
      const error = evalError(() => renderTemplate('from {{ steps.current.output.missing | upper }}', scope));
      expect(error.path).toBe('steps.current.output.missing');
      expect(error.message).toContain('default');
      expect(evalError(() => renderTemplate('{{ incident.id }}', scope)).path).toBe('incident.id');
    });

    it('uses the onUnresolved placeholder instead', () => {
      const options = { onUnresolved: (path: string) => `<${path}>` };
      expect(renderTemplate('to {{ steps.later.output.v }}', scope, options)).toBe('to <steps.later.output.v>');
      expect(renderTemplate('{{ steps.later.output.items[0] }}', scope, options)).toBe('<steps.later.output.items[0]>');
    });

    it('does not walk into strings or inherited properties', () => {
      const options = { onUnresolved: () => 'unresolved' };
      expect(renderTemplate('{{ params.model.length }}', scope, options)).toBe('unresolved');
      expect(renderTemplate('{{ params.tags.length }}', scope, options)).toBe('unresolved');
      expect(renderTemplate('{{ params.hasOwnProperty }}', scope, options)).toBe('unresolved');
      expect(renderTemplate('{{ params.toString }}', scope, options)).toBe('unresolved');
    });
  });

  describe('when the template is malformed', () => {
    const cases: [string, string, number, string | undefined, string | undefined][] = [
      ['unclosed {{', 'a {{ params.model', 2, "'}}'", 'end of text'],
      ['unknown filter', '{{ params.model | shout }}', 18, 'one of default, json, lower, upper, trim, length', '"shout"'],
      ['unknown root', '{{ env.HOME }}', 3, 'a reference starting with one of params, steps, run, incident, partition', '"env"'],
      ['bad token', '{{ params.a # 1 }}', 12, 'a reference, literal, operator or filter', '"#"'],
      ['trailing garbage', '{{ params.a params.b }}', 12, "an operator, '|' filter or '}}'", '"params"'],
      ['__proto__ segment', '{{ params.__proto__.x }}', 10, undefined, '"__proto__"'],
      ['arithmetic', '{{ 1 + 1 }}', 5, undefined, '"+"'],
      ['a call', '{{ process.exit() }}', 3, undefined, '"process"'],
      ['a call on a reference', '{{ params.exit() }}', 14, undefined, '"("'],
      ['an empty expression', '{{ }}', 3, undefined, "'}}'"],
      ['an unterminated string', "{{ 'abc }}", 3, 'a closing \'', 'end of text'],
      ['a chained comparison', '{{ params.a == 1 == 2 }}', 17, undefined, '"=="'],
      ['a single =', '{{ params.a = 1 }}', 12, undefined, '"="'],
      ['default without a value', '{{ params.a | default }}', 22, undefined, "'}}'"],
    ];
    it.each(cases)('reports %s with offset, expected and found', (_name, text, offset, expected, found) => {
      const error = syntaxError(() => parseTemplate(text));
      expect(error.code).toBe('template_syntax');
      expect(error.offset).toBe(offset);
      if (expected !== undefined) expect(error.expected).toBe(expected);
      expect(error.found).toBe(found);
      expect(error.message).toContain(`at offset ${offset}`);
    });

    it('reports offsets relative to a bare condition', () => {
      expect(syntaxError(() => parseCondition('params.a ==')).found).toBe('end of condition');
      expect(syntaxError(() => parseCondition('params.a and os.x')).offset).toBe(13);
    });
  });

  describe('when a template reaches for prototypes', () => {
    it.each(['{{ params.constructor }}', "{{ params['__proto__'] }}", '{{ steps["prototype"] }}', '{{ run.constructor.name }}'])(
      'rejects %s at parse time', (text) => {
        expect(syntaxError(() => parseTemplate(text)).message).toContain('is not allowed');
      },
    );

    it('refuses a forbidden segment in a hand-built expression too', () => {
      const expr = { kind: 'ref', path: ['params', '__proto__'], offset: 0 } as const;
      expect(evalError(() => evaluateCondition(expr, scope)).path).toBe('params.__proto__');
    });
  });

  describe('when input exceeds the limits', () => {
    it('rejects 10,000 nested parentheses quickly with a syntax error, not a RangeError', () => {
      const deep = `{{ ${'('.repeat(10_000)}1${')'.repeat(10_000)} }}`;
      const started = performance.now();
      expect(syntaxError(() => parseTemplate(deep)).expected).toContain('at most 10000 characters');
      expect(syntaxError(() => parseCondition(`${'('.repeat(4_000)}1${')'.repeat(4_000)}`)).message).toContain('nested too deeply');
      expect(syntaxError(() => parseCondition(`${'not '.repeat(2_000)}true`)).message).toContain('nested too deeply');
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    it('accepts 32 levels of nesting', () => {
      expect(evaluateCondition(`${'('.repeat(32)}true${')'.repeat(32)}`, scope)).toBe(true);
    });

    it('handles long and/or chains without deep recursion', () => {
      expect(evaluateCondition(Array(1_000).fill('false').join(' or ').concat(' or true'), scope)).toBe(true);
    });

    it('rejects more than 100 segments in one string', () => {
      expect(renderTemplate('{{ 1 }}'.repeat(100), scope)).toBe('1'.repeat(100));
      expect(syntaxError(() => parseTemplate('{{ 1 }}'.repeat(101))).offset).toBe(700);
    });
  });

  describe('when rendering a structured value', () => {
    it('renders every templated string deeply without mutating the input', () => {
      const input = {
        model: '{{ params.model }}',
        argv: ['rollback', '{{ params.model }}', '--replicas={{ params.replicas }}'],
        nested: { count: '{{ steps.current.output.count }}', flag: true, n: 1, none: null },
      };
      const snapshot = structuredClone(input);
      const output = renderValue(input, scope);
      expect(output).toEqual({
        model: 'model-x',
        argv: ['rollback', 'model-x', '--replicas=3'],
        nested: { count: 7, flag: true, n: 1, none: null },
      });
      expect(input).toEqual(snapshot);
      expect(output).not.toBe(input);
    });

    it('keeps a __proto__ key as data', () => {
      const input = JSON.parse('{"__proto__": {"polluted": "{{ params.model }}"}}') as unknown;
      const output = renderValue(input, scope) as Record<string, unknown>;
      expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
      expect(Object.hasOwn(output, '__proto__')).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('when formatting a path', () => {
    it('uses dots for names, [n] for indexes and quoted keys for the rest', () => {
      expect(formatPath(['steps', 'a', 'output', 'x'])).toBe('steps.a.output.x');
      expect(formatPath(['steps', 'check-db', 'output', 'items', '0', "it's odd", '007'])).toBe(
        "steps.check-db.output.items[0]['it\\'s odd']['007']",
      );
    });
  });

  describe('when the same string is parsed twice', () => {
    it('returns the cached, frozen result', () => {
      const first = parseTemplate('cache {{ params.model }}');
      expect(parseTemplate('cache {{ params.model }}')).toBe(first);
      expect(Object.isFrozen(first) && Object.isFrozen(first.parts)).toBe(true);
    });
  });
});

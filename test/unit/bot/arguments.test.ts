import { describe, expect, it } from 'vitest';
import { commandOf, describeParam, mapArguments, positionalParams, usageLine } from '../../../src/bot/arguments.ts';
import { tokenize, type Token } from '../../../src/bot/grammar.ts';
import { resolveParams } from '../../../src/machines/params.ts';
import { valid } from '../../helpers/runbooks.ts';

const withUsage = valid(`---
id: rollback-model
title: Roll back
params:
  model: { type: string, pattern: "^[a-z0-9-]+$", description: The model name. }
  version: { type: string, required: false }
  reason: { type: string, required: false }
triggers: { slack: "rollback <model> [version]" }
---
## Confirm
Look at the dashboards.
`);

const withoutUsage = valid(`---
id: backfill
title: Backfill
params:
  dataset: { type: string }
  days: { type: number, default: 1 }
  mode: { type: enum, values: [fast, safe], required: false }
---
## Confirm
Look at the dashboards.
`);

const noParams = valid(`---
id: check
title: Check
---
## Confirm
Look.
`);

const tokens = (text: string): Token[] => {
  const result = tokenize(text);
  if (!result.ok) throw new Error(result.error);
  return [...result.tokens];
};

describe('mapArguments', () => {
  describe('when the runbook has a Slack usage', () => {
    it('fills params in the order of the usage line', () => {
      expect(mapArguments(withUsage, tokens('model-x v2'))).toEqual({ ok: true, values: { model: 'model-x', version: 'v2' } });
    });
    it('accepts fewer positional values than the usage has', () => {
      expect(mapArguments(withUsage, tokens('model-x'))).toEqual({ ok: true, values: { model: 'model-x' } });
    });
    it('takes name=value for params that are not positional, in any order', () => {
      expect(mapArguments(withUsage, tokens('reason="canary is red" model-x'))).toEqual({ ok: true, values: { reason: 'canary is red', model: 'model-x' } });
    });
    it('lets name=value fill a positional param, and the next word the next slot', () => {
      expect(mapArguments(withUsage, tokens('version=v3 model-x'))).toEqual({ ok: true, values: { version: 'v3', model: 'model-x' } });
    });
    it('reports words beyond the usage, naming them', () => {
      const result = mapArguments(withUsage, tokens('model-x v2 extra "more words"'));
      expect(result.ok).toBe(false);
      expect(!result.ok && result.problems).toEqual([
        'too many values: `rollback` takes at most 2 (model, version); left over: "extra", "more words" (quote a value that has spaces)',
      ]);
    });
    it('reports a param given both by position and by name', () => {
      expect(mapArguments(withUsage, tokens('model=a b'))).toEqual({ ok: false, problems: ['`model` is given more than once'] });
      expect(mapArguments(withUsage, tokens('a model=b'))).toEqual({ ok: false, problems: ['`model` is given more than once'] });
    });
    it('keeps a quoted word with = as a positional value', () => {
      expect(mapArguments(withUsage, tokens('"a=b"'))).toEqual({ ok: true, values: { model: 'a=b' } });
    });
    it('leaves unknown names to resolveParams, which lists the known ones', () => {
      const mapped = mapArguments(withUsage, tokens('model-x colour=red'));
      expect(mapped).toEqual({ ok: true, values: { model: 'model-x', colour: 'red' } });
      const resolved = resolveParams(withUsage, mapped.ok ? mapped.values : {});
      expect(!resolved.ok && resolved.problems.map((p) => p.code)).toEqual(['param_unknown']);
    });
  });

  describe('when the runbook has no Slack usage', () => {
    it('fills params in the order they are declared', () => {
      expect(positionalParams(withoutUsage).map((p) => p.name)).toEqual(['dataset', 'days', 'mode']);
      expect(mapArguments(withoutUsage, tokens('features 3 safe'))).toEqual({ ok: true, values: { dataset: 'features', days: '3', mode: 'safe' } });
    });
    it('says the runbook takes no positional values when it has no params', () => {
      expect(mapArguments(noParams, tokens('x'))).toMatchObject({ ok: false, problems: [expect.stringContaining('`check` takes no positional values')] });
    });
  });
});

describe('usageLine', () => {
  it('is the Slack usage when there is one', () => {
    expect(usageLine(withUsage)).toBe('/runbook rollback <model> [version] [name=value…]');
  });
  it('is built from the params otherwise, optional ones in brackets', () => {
    expect(usageLine(withoutUsage)).toBe('/runbook backfill <dataset> [days] [mode] [name=value…]');
    expect(usageLine(noParams)).toBe('/runbook check');
  });
});

describe('commandOf', () => {
  it('is the first word of the usage, else the id', () => {
    expect(commandOf(withUsage)).toBe('rollback');
    expect(commandOf(withoutUsage)).toBe('backfill');
  });
});

describe('describeParam', () => {
  it('names type, need, pattern and description', () => {
    const [model, version] = withUsage.params;
    expect(model && describeParam(model)).toBe('`model` (string, required, matching `^[a-z0-9-]+$`): The model name.');
    expect(version && describeParam(version)).toBe('`version` (string, optional)');
  });
  it('shows enum values and defaults', () => {
    const [, days, mode] = withoutUsage.params;
    expect(days && describeParam(days)).toBe('`days` (number, default 1)');
    expect(mode && describeParam(mode)).toBe('`mode` (one of fast | safe, optional)');
  });
});

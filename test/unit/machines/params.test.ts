import { describe, expect, it } from 'vitest';
import { parseParamAssignments, resolveParams } from '../../../src/machines/params.ts';
import { valid } from '../../helpers/runbooks.ts';

const runbook = valid(`---
params:
  model: { type: string, pattern: "^[a-z0-9][a-z0-9-]{0,62}$" }
  replicas: { type: number, default: 2 }
  force: { type: boolean, required: false }
  region: { type: enum, values: [us-east-1, eu-west-1], default: us-east-1 }
  window: { type: duration, required: false }
  token: { type: string, secret: true, required: false, pattern: "^tok_" }
---
# Params

## Look
Look.
`);

describe('resolveParams', () => {
  describe('when values are valid strings from Slack or the CLI', () => {
    it('coerces them to their declared types and applies defaults', () => {
      expect(resolveParams(runbook, { model: 'model-x', replicas: '5', force: 'yes', window: '10m' })).toEqual({
        ok: true,
        values: { model: 'model-x', replicas: 5, force: true, region: 'us-east-1', window: '10m' },
      });
    });
  });

  describe('when values are wrong', () => {
    it('reports every problem, naming the param and what was expected', () => {
      const result = resolveParams(runbook, { model: '$(reboot)', replicas: 'many', force: 'perhaps', region: 'mars', window: 'a while', extra: '1' });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.problems.map((p) => [p.param, p.code])).toEqual([
        ['extra', 'param_unknown'],
        ['model', 'param_invalid'],
        ['replicas', 'param_invalid'],
        ['force', 'param_invalid'],
        ['region', 'param_invalid'],
        ['window', 'param_invalid'],
      ]);
      expect(result.problems[1]?.message).toBe('param `model` must match ^[a-z0-9][a-z0-9-]{0,62}$; got "$(reboot)"');
    });

    it('reports a missing required param with its type and pattern', () => {
      const result = resolveParams(runbook, {});
      expect(result).toEqual({ ok: false, problems: [{ param: 'model', code: 'param_missing', message: 'missing required param `model` (string, matching ^[a-z0-9][a-z0-9-]{0,62}$)' }] });
    });

    it('never echoes a secret param', () => {
      const result = resolveParams(runbook, { model: 'm', token: 'hunter2-secret' });
      expect(JSON.stringify(result)).not.toContain('hunter2');
      expect(JSON.stringify(result)).toContain('(secret, not shown)');
    });
  });

  describe('when values carry shell metacharacters', () => {
    it.each(['; rm -rf /', '$(id)', '`id`', 'a\nb', '--force', '../../etc/passwd', 'mödel'])('rejects %j where the pattern forbids it', (value) => {
      expect(resolveParams(runbook, { model: value }).ok).toBe(false);
    });
  });
});

describe('parseParamAssignments', () => {
  it('splits on the first = and reports items without one', () => {
    expect(parseParamAssignments(['a=1', 'url=http://x/?q=1', 'oops'])).toEqual({ values: { a: '1', url: 'http://x/?q=1' }, errors: ['expected name=value, got "oops"'] });
  });
});

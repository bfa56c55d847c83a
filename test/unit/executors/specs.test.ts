import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  APPROVAL_DEFAULTS,
  ExecutorCatalogError,
  createExecutorCatalog,
  describeArguments,
  executorCatalog,
  templated,
} from '../../../src/executors/specs.ts';
import { DURATION_EXPECTATION } from '../../../src/machines/durations.ts';
import { RESERVED_STEP_KEYS, isMutatingCall, type ExecutorSpec } from '../../../src/machines/executor-spec.ts';

function specOf(name: string): ExecutorSpec {
  const spec = executorCatalog.get(name);
  if (!spec) throw new Error(`no spec for ${name}`);
  return spec;
}

/** The parsed arguments, failing the test with the issues when they are rejected. */
function accept(name: string, args: unknown): Record<string, unknown> {
  const result = specOf(name).args.safeParse(args);
  if (!result.success) expect.fail(`${name} rejected ${JSON.stringify(args)}: ${JSON.stringify(result.error.issues)}`);
  return result.data as Record<string, unknown>;
}

interface Problem {
  readonly code: string;
  readonly path: string;
  readonly message: string;
}

/** The issues of a rejected call, paths joined with dots; fails the test when the arguments pass. */
function reject(name: string, args: unknown): Problem[] {
  const result = specOf(name).args.safeParse(args);
  if (result.success) expect.fail(`${name} accepted ${JSON.stringify(args)}`);
  return result.error.issues.map((issue) => ({ code: issue.code, path: issue.path.map(String).join('.'), message: issue.message }));
}

function problemAt(problems: readonly Problem[], path: string): Problem {
  const problem = problems.find((p) => p.path === path);
  if (!problem) expect.fail(`no problem at \`${path}\` in ${JSON.stringify(problems)}`);
  return problem;
}

const SSM_EXAMPLE = {
  document: 'AWS-RunShellScript',
  targets: [{ key: 'tag:role', values: ['model-serving'] }],
  parameters: { commands: ['modelctl current'] },
  env: { MODEL: '{{ params.model }}' },
};

const BACKFILL_EXAMPLE = {
  dataset: 'features.daily_user',
  from: '2024-05-01',
  to: '2024-05-07',
  call: { executor: 'http', method: 'POST', url: 'https://features.internal/rebuild?day={{ partition }}' },
};

describe('executor specs', () => {
  describe('catalog', () => {
    it('has one spec per executor of DESIGN.md §3, each with a one-line summary', () => {
      expect([...executorCatalog.keys()].sort()).toEqual(
        ['approve', 'backfill', 'failover', 'http', 'notify', 'page', 'rollback', 'run', 'ssm', 'ssm-automation', 'wait'],
      );
      for (const spec of executorCatalog.values()) {
        expect(spec.summary).toMatch(/^\S.*\.$/);
        expect(spec.summary).not.toContain('\n');
      }
    });

    it('drives wait and approve steps by timer and gate, everything else as a call', () => {
      const kinds = Object.fromEntries([...executorCatalog.values()].map((spec) => [spec.name, spec.kind]));
      expect(kinds).toMatchObject({ wait: 'wait', approve: 'approval', ssm: 'call', page: 'call', notify: 'call' });
    });

    it('names no argument like a reserved step key', () => {
      for (const name of executorCatalog.keys()) {
        expect(describeArguments(name).filter((key) => (RESERVED_STEP_KEYS as readonly string[]).includes(key))).toEqual([]);
      }
    });

    it('lists the argument names of an executor, and none for an unknown one', () => {
      expect(describeArguments('run')).toEqual(['argv', 'env', 'cwd']);
      expect(describeArguments('shell')).toEqual([]);
    });

    it('adds extra executors for tests and dev', () => {
      const echo: ExecutorSpec = { name: 'echo', summary: 'Echo.', kind: 'call', mutating: false, args: z.strictObject({ text: z.string() }) };
      const catalog = createExecutorCatalog([echo]);
      expect(catalog.get('echo')).toBe(echo);
      expect(catalog.get('http')).toBe(executorCatalog.get('http'));
      expect(describeArguments('echo', catalog)).toEqual(['text']);
    });

    it('refuses an extra executor that shadows a built-in one or takes a reserved step key', () => {
      const shadow: ExecutorSpec = { name: 'http', summary: 'x', kind: 'call', mutating: true, args: z.strictObject({}) };
      const reserved: ExecutorSpec = { name: 'x', summary: 'x', kind: 'call', mutating: true, args: z.strictObject({ timeout: z.string() }) };
      expect(() => createExecutorCatalog([shadow])).toThrow(ExecutorCatalogError);
      expect(() => createExecutorCatalog([reserved])).toThrow(/reserved step keys: timeout/);
    });

    it('says what a mapping of arguments is when given something else', () => {
      expect(reject('notify', 'hello')).toEqual([
        { code: 'invalid_type', path: '', message: 'expected a mapping of arguments (`channel`, `text`)' },
      ]);
    });
  });

  describe('templated', () => {
    const quorum = templated(z.number().int().min(1));

    it('accepts a template string or a valid value', () => {
      expect(quorum.parse('{{ params.quorum }}')).toBe('{{ params.quorum }}');
      expect(quorum.parse(2)).toBe(2);
    });

    it('reports the inner schema issue for anything else, including a string without a template', () => {
      expect(quorum.safeParse(0).error?.issues[0]?.code).toBe('too_small');
      expect(quorum.safeParse('two').error?.issues[0]?.code).toBe('invalid_type');
    });
  });

  describe('http', () => {
    it('applies the GET method and 2xx expectation by default', () => {
      expect(accept('http', { url: 'https://serving.internal/v1/models' })).toEqual({
        method: 'GET',
        url: 'https://serving.internal/v1/models',
        expect: ['2xx'],
      });
    });

    it('accepts headers, query, a JSON body, statuses and classes', () => {
      const args = {
        method: 'POST',
        url: '{{ params.base_url }}/v1/rollback',
        headers: { Authorization: 'Bearer {{ secrets.token }}' },
        query: { dry_run: false, limit: 10, model: '{{ params.model }}' },
        json: { model: '{{ params.model }}', versions: [1, 2], force: null },
        expect: [200, 409, '2xx'],
        max_redirects: 0,
      };
      expect(accept('http', args)).toEqual(args);
    });

    it('is read-only for GET and HEAD and mutating otherwise', () => {
      const http = specOf('http');
      expect(isMutatingCall(http, {})).toBe(false);
      expect(isMutatingCall(http, { method: 'GET' })).toBe(false);
      expect(isMutatingCall(http, { method: 'HEAD' })).toBe(false);
      expect(isMutatingCall(http, { method: 'POST' })).toBe(true);
      expect(isMutatingCall(http, { method: 'DELETE' })).toBe(true);
    });

    it('counts a templated method as mutating, since it may resolve to POST', () => {
      expect(isMutatingCall(specOf('http'), { method: '{{ params.method }}' })).toBe(true);
    });

    it('rejects an unknown key, listing the arguments it expected', () => {
      const [problem] = reject('http', { url: 'https://x.internal/', timeout_ms: 5 });
      expect(problem).toEqual({
        code: 'unrecognized_keys',
        path: '',
        message: 'unknown argument `timeout_ms`: expected one of `method`, `url`, `headers`, `query`, `json`, `expect`, `max_redirects`',
      });
    });

    it('rejects a missing url, a relative url, a lowercase method and a bad status class', () => {
      expect(problemAt(reject('http', {}), 'url').message).toMatch(/^is required: expected an absolute URL/);
      const problems = reject('http', { url: '/v1/models', method: 'get', expect: [200, '6xx'] });
      expect(problemAt(problems, 'url').message).toMatch(/absolute http\(s\) URL/);
      expect(problemAt(problems, 'method').message).toContain('one of GET, HEAD, POST, PUT, PATCH, DELETE');
      expect(problemAt(problems, 'expect.1').message).toBe('expected a status such as 200 or a class such as 2xx');
    });

    it('rejects a number as a header value and too many redirects', () => {
      const problems = reject('http', { url: 'https://x.internal/', headers: { 'X-Retries': 3 }, max_redirects: 11 });
      expect(problemAt(problems, 'headers.X-Retries').code).toBe('invalid_type');
      expect(problemAt(problems, 'max_redirects').message).toContain('a whole number from 0 to 10');
    });
  });

  describe('run', () => {
    it('accepts an argv list with env and cwd', () => {
      const args = { argv: ['modelctl', 'rollback', '{{ params.model }}'], env: { LOG_LEVEL: 'debug' }, cwd: '/srv/models' };
      expect(accept('run', args)).toEqual(args);
      expect(specOf('run').mutating).toBe(true);
    });

    it('rejects a single string argv, saying to give a list', () => {
      const problems = reject('run', { argv: 'modelctl rollback model-x' });
      expect(problemAt(problems, 'argv').message).toMatch(/expected a list .*a single string is not split and no shell runs it/);
    });

    it('rejects an empty argv, a missing argv and a number argument', () => {
      expect(problemAt(reject('run', { argv: [] }), 'argv').code).toBe('too_small');
      expect(problemAt(reject('run', {}), 'argv').message).toMatch(/^is required/);
      expect(problemAt(reject('run', { argv: ['sleep', 5] }), 'argv.1').message).toContain('quote numbers');
    });
  });

  describe('ssm', () => {
    it('accepts the DESIGN.md example step minus its reserved keys', () => {
      expect(accept('ssm', SSM_EXAMPLE)).toEqual(SSM_EXAMPLE);
    });

    it('accepts instance ids, rate controls and a comment', () => {
      const args = { document: 'AWS-RunShellScript', instance_ids: ['i-0123456789abcdef0'], max_concurrency: '25%', max_errors: 0, comment: 'drain' };
      expect(accept('ssm', args)).toEqual(args);
    });

    it('accepts templated instance ids and rate controls', () => {
      accept('ssm', { document: 'D', instance_ids: '{{ steps.find.output.ids }}', max_concurrency: '{{ params.batch }}' });
    });

    it('rejects both targets and instance_ids, and neither', () => {
      expect(reject('ssm', { ...SSM_EXAMPLE, instance_ids: ['i-0123456789abcdef0'] })).toEqual([
        { code: 'custom', path: '', message: 'expected exactly one of `targets` or `instance_ids`, found both' },
      ]);
      expect(reject('ssm', { document: 'AWS-RunShellScript' })).toEqual([
        { code: 'custom', path: '', message: 'expected exactly one of `targets` or `instance_ids`, found neither' },
      ]);
    });

    it('reports every problem at once, the targets rule included', () => {
      const problems = reject('ssm', {
        targets: [{ key: 'tag:role', values: [], extra: 1 }],
        instance_ids: ['i-0123456789abcdef0'],
        max_concurrency: '0',
      });
      expect(problems.map((p) => p.path).sort()).toEqual(['', 'document', 'max_concurrency', 'targets.0', 'targets.0.values']);
    });

    it('rejects a parameter that is neither a string nor a list of strings', () => {
      expect(problemAt(reject('ssm', { ...SSM_EXAMPLE, parameters: { commands: 3 } }), 'parameters.commands').message).toBe(
        'expected a string or a list of strings',
      );
    });
  });

  describe('ssm-automation', () => {
    it('accepts a document with parameters and rate-controlled targets', () => {
      const args = {
        document: 'AWS-RestartEC2Instance',
        parameters: { AutomationAssumeRole: 'arn:aws:iam::123456789012:role/restart' },
        target_parameter: 'InstanceId',
        targets: [{ key: 'tag:role', values: ['feature-store'] }],
      };
      expect(accept('ssm-automation', args)).toEqual(args);
    });

    it('rejects targets without target_parameter', () => {
      const problems = reject('ssm-automation', { document: 'D', targets: [{ key: 'tag:role', values: ['x'] }] });
      expect(problems[0]?.message).toBe('expected `targets` and `target_parameter` together, or neither');
    });
  });

  describe('wait', () => {
    it('accepts a duration or a templated one', () => {
      expect(accept('wait', { for: '1h30m' })).toEqual({ for: '1h30m' });
      accept('wait', { for: '{{ params.soak }}' });
      expect(specOf('wait').mutating).toBe(false);
    });

    it('rejects what is not a duration, saying what a duration looks like', () => {
      expect(problemAt(reject('wait', { for: '10 minutes' }), 'for').message).toBe(`expected ${DURATION_EXPECTATION}`);
      expect(problemAt(reject('wait', { for: 600 }), 'for').message).toBe(`expected ${DURATION_EXPECTATION}`);
      expect(problemAt(reject('wait', {}), 'for').message).toBe(`is required: expected ${DURATION_EXPECTATION}`);
    });

    it('rejects a duration longer than a week', () => {
      expect(problemAt(reject('wait', { for: '8d' }), 'for').message).toBe('expected at most 7d');
    });
  });

  describe('approve', () => {
    it('accepts the DESIGN.md example step', () => {
      const args = { message: 'Roll {{ params.model }} back from {{ steps.current.output.version }}?' };
      expect(accept('approve', args)).toEqual(args);
    });

    it('accepts a full gate with an escalation ladder', () => {
      const args = {
        quorum: 2,
        from: ['@ml-oncall-leads', 'U024BE7LH', 'W012A3CDE'],
        allow_self: false,
        expires: '30m',
        on_expiry: 'reject',
        escalation: [
          { after: '10m', notify: ['@ml-oncall-leads'] },
          { after: '20m', page: { escalation_policy: 'PABC123' } },
        ],
      };
      expect(accept('approve', args)).toEqual(args);
    });

    it('accepts templated numbers, booleans, lists and durations', () => {
      accept('approve', { quorum: '{{ params.quorum }}', allow_self: '{{ params.self }}', from: '{{ params.approvers }}', expires: '{{ params.ttl }}' });
    });

    it('leaves unset keys unset, so the runbook approval can fill them before APPROVAL_DEFAULTS', () => {
      expect(accept('approve', {})).toEqual({});
      expect(APPROVAL_DEFAULTS).toEqual({ quorum: 1, from: [], allow_self: false, on_expiry: 'reject', escalation: [] });
    });

    it('rejects a zero quorum, a bad approver, a string boolean and an unknown expiry', () => {
      const problems = reject('approve', { quorum: 0, from: ['alice'], allow_self: 'no', on_expiry: 'approve' });
      expect(problemAt(problems, 'quorum').message).toContain('a whole number from 1 to 20');
      expect(problemAt(problems, 'from.0').message).toContain('@ml-oncall-leads');
      expect(problemAt(problems, 'allow_self').message).toContain('true or false');
      expect(problemAt(problems, 'on_expiry').message).toContain('one of reject, wait');
    });

    it('rejects bad escalation rungs', () => {
      const problems = reject('approve', {
        expires: 'soon',
        escalation: [{ after: '20m', notify: ['@leads'] }, { after: '10m', page: {}, email: 'x' }, { after: '1h' }],
      });
      expect(problemAt(problems, 'expires').message).toBe(`expected ${DURATION_EXPECTATION}`);
      expect(problemAt(problems, 'escalation.1').code).toBe('unrecognized_keys');
      expect(problemAt(problems, 'escalation.1.page').message).toBe('expected `escalation_policy` or `service`');
      expect(problemAt(problems, 'escalation.2').message).toBe('expected `notify` or `page` on the rung');
    });

    it('rejects rungs out of order', () => {
      const problems = reject('approve', { escalation: [{ after: '20m', notify: ['@a'] }, { after: '10m', notify: ['@b'] }] });
      expect(problemAt(problems, 'escalation').message).toBe('expected rungs in increasing order of `after`');
    });
  });

  describe('rollback', () => {
    it('accepts the DESIGN.md example step with a templated version', () => {
      const args = { model: '{{ params.model }}', to: "{{ params.version | default: 'previous' }}" };
      expect(accept('rollback', args)).toEqual(args);
    });

    it('rolls back to the previous version by default', () => {
      expect(accept('rollback', { model: 'model-x' })).toEqual({ model: 'model-x', to: 'previous' });
    });

    it('rejects a missing model and an unquoted numeric version', () => {
      const problems = reject('rollback', { to: 1.2 });
      expect(problemAt(problems, 'model').message).toBe('is required: expected a model name');
      expect(problemAt(problems, 'to').message).toContain('quote numbers');
    });
  });

  describe('failover', () => {
    it('shifts all traffic at once by default', () => {
      expect(accept('failover', { service: 'scoring', from: 'us-east-1', to: 'us-west-2' })).toMatchObject({ shift: [100] });
    });

    it('accepts increasing steps, templated ones included', () => {
      accept('failover', { service: 'scoring', from: 'us-east-1', to: 'us-west-2', shift: [10, 50, 100] });
      accept('failover', { service: 'scoring', from: 'us-east-1', to: 'us-west-2', shift: [10, '{{ params.mid }}', 100] });
      accept('failover', { service: 'scoring', from: '{{ params.from }}', to: '{{ params.to }}', shift: '{{ params.steps }}' });
    });

    it('rejects steps that do not end at 100, go down or leave 1–100', () => {
      const base = { service: 'scoring', from: 'us-east-1', to: 'us-west-2' };
      expect(problemAt(reject('failover', { ...base, shift: [10, 50] }), 'shift').message).toBe('expected the last step to be 100');
      expect(problemAt(reject('failover', { ...base, shift: [50, 10, 100] }), 'shift').message).toBe('expected strictly increasing percentages');
      expect(problemAt(reject('failover', { ...base, shift: [0, 100] }), 'shift.0').code).toBe('too_small');
    });

    it('rejects the same region on both sides', () => {
      expect(problemAt(reject('failover', { service: 's', from: 'eu-west-1', to: 'eu-west-1' }), 'to').message).toBe(
        'expected a region other than `from`',
      );
    });
  });

  describe('backfill', () => {
    it('applies daily partitions and a parallelism of 4 by default', () => {
      expect(accept('backfill', BACKFILL_EXAMPLE)).toMatchObject({ partition: 'day', parallelism: 4 });
    });

    it('fills the nested call’s defaults from its own executor', () => {
      const call = accept('backfill', { ...BACKFILL_EXAMPLE, call: { executor: 'http', url: 'https://x.internal/{{ partition }}' } })['call'];
      expect(call).toEqual({ executor: 'http', method: 'GET', url: 'https://x.internal/{{ partition }}', expect: ['2xx'] });
    });

    it('accepts hourly partitions, a templated parallelism and an ssm or run call', () => {
      accept('backfill', { ...BACKFILL_EXAMPLE, from: '2024-05-01T00', to: '2024-05-01T23', partition: 'hour', parallelism: '{{ params.p }}' });
      accept('backfill', { ...BACKFILL_EXAMPLE, call: { executor: 'ssm', ...SSM_EXAMPLE } });
      accept('backfill', { ...BACKFILL_EXAMPLE, call: { executor: 'run', argv: ['rebuild', '--day', '{{ partition }}'] } });
    });

    it('rejects a call to an executor other than http, ssm or run', () => {
      const problems = reject('backfill', { ...BACKFILL_EXAMPLE, call: { executor: 'approve', quorum: 2 } });
      expect(problems).toEqual([{ code: 'custom', path: 'call.executor', message: 'expected `http`, `ssm`, `run`' }]);
    });

    it('rejects bad nested arguments with their path under `call`', () => {
      const problems = reject('backfill', { ...BACKFILL_EXAMPLE, call: { executor: 'run', argv: 'rebuild --all', shell: true } });
      expect(problemAt(problems, 'call').code).toBe('unrecognized_keys');
      expect(problemAt(problems, 'call.argv').message).toContain('a single string is not split');
    });

    it('rejects impossible dates, a reversed range, hours with daily partitions and too much parallelism', () => {
      expect(problemAt(reject('backfill', { ...BACKFILL_EXAMPLE, from: '2024-02-30' }), 'from').message).toContain('2024-05-01');
      expect(problemAt(reject('backfill', { ...BACKFILL_EXAMPLE, from: '2024-06-01' }), 'to').message).toBe('expected `to` on or after `from`');
      expect(problemAt(reject('backfill', { ...BACKFILL_EXAMPLE, to: '2024-05-07T05' }), 'partition').message).toContain('partition: hour');
      expect(problemAt(reject('backfill', { ...BACKFILL_EXAMPLE, parallelism: 65 }), 'parallelism').message).toContain('1 to 64');
    });

    it('rejects a missing call', () => {
      const { call: _call, ...withoutCall } = BACKFILL_EXAMPLE;
      expect(problemAt(reject('backfill', withoutCall), 'call').message).toMatch(/^is required: expected a call/);
    });
  });

  describe('page', () => {
    it('accepts a service or an escalation policy with a title', () => {
      accept('page', { service: 'model-serving', title: 'Rollback of {{ params.model }} failed', urgency: 'high', details: 'see run {{ run.id }}' });
      accept('page', { escalation_policy: 'PABC123', title: 'x', details: { model: '{{ params.model }}', psi: 0.31 } });
      expect(specOf('page').mutating).toBe(false);
    });

    it('rejects neither service nor escalation policy, and an unknown urgency', () => {
      const problems = reject('page', { title: 'x', urgency: 'critical', details: 42 });
      expect(problemAt(problems, 'details').message).toMatch(/^expected incident details: text, or a mapping/);
      expect(problemAt(problems, '').message).toBe('expected `service` or `escalation_policy` (or both), or `incident` to escalate');
      expect(problemAt(problems, 'urgency').message).toContain('one of high, low');
    });

    it('accepts escalating an existing incident to a level or another policy, templated', () => {
      expect(accept('page', { incident: '{{ incident.pagerduty_id }}', escalation_level: 2 })).toMatchObject({ incident: '{{ incident.pagerduty_id }}', escalation_level: 2 });
      expect(accept('page', { incident: 'Q1ABC', escalation_policy: 'PABC123' })).toMatchObject({ incident: 'Q1ABC', escalation_policy: 'PABC123' });
    });

    it('rejects an escalation with nothing to escalate to, a service beside it, or a level without an incident', () => {
      expect(problemAt(reject('page', { incident: 'Q1ABC' }), '').message).toBe('escalating `incident` expects `escalation_level`, `escalation_policy`, or both');
      expect(problemAt(reject('page', { incident: 'Q1ABC', escalation_level: 2, service: 'model-serving' }), 'service').message).toBe('expected no `service` when escalating an existing `incident`');
      expect(problemAt(reject('page', { service: 'model-serving', title: 'x', escalation_level: 2 }), 'escalation_level').message).toBe('expected `escalation_level` only with `incident` (the incident to escalate)');
      expect(problemAt(reject('page', { service: 'model-serving' }), 'title').message).toBe('expected a `title` for the new incident');
    });
  });

  describe('notify', () => {
    it('accepts a channel and text', () => {
      expect(accept('notify', { channel: '#ml-oncall', text: 'Rolled back {{ params.model }}' })).toEqual({
        channel: '#ml-oncall',
        text: 'Rolled back {{ params.model }}',
      });
    });

    it('rejects an empty text and an unknown key', () => {
      const problems = reject('notify', { text: '', blocks: [] });
      expect(problemAt(problems, 'text').code).toBe('too_small');
      expect(problemAt(problems, '').code).toBe('unrecognized_keys');
    });
  });
});

import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toStepError } from '../../../src/executors/contract.ts';
import { TailBuffer, headOf, redactJson } from '../../../src/executors/limits.ts';
import { createRunExecutor } from '../../../src/executors/run.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

describe('run executor', () => {
  describe('plan', () => {
    const plan = (input: unknown) => createRunExecutor({ inheritEnv: ['PATH', 'HOME'] }).plan?.(input) ?? [];

    it('shows argv as a JSON array, never a shell string, with the cwd and env', () => {
      expect(plan({ argv: ['kubectl', 'rollout', 'undo', 'deploy/model x; rm -rf /'], cwd: '/srv/ops', env: { MODEL: 'm-1' } })).toEqual([
        'run ["kubectl","rollout","undo","deploy/model x; rm -rf /"] (no shell)',
        'cwd: /srv/ops',
        'env: MODEL=m-1',
        "inherits only PATH, HOME from the worker; RUNBOOK_IDEMPOTENCY_KEY set to the attempt's key",
      ]);
    });

    it('hides the values of secret-looking variables and secret-looking text', () => {
      const lines = plan({ argv: ['curl', '-H', 'Authorization: Bearer abc.def'], env: { API_TOKEN: 'tok-1', DB_PASSWORD: 'pw', REGION: 'eu' } });
      expect(lines[1]).toBe('env: API_TOKEN=[hidden], DB_PASSWORD=[hidden], REGION=eu');
      expect(lines.join('\n')).not.toMatch(/tok-1|pw\b|abc\.def/);
    });

    it('shows run-time markers as they are', () => {
      expect(plan({ argv: ['modelctl', 'rollback', '⟨steps.current.output.version⟩'] })[0]).toBe('run ["modelctl","rollback","⟨steps.current.output.version⟩"] (no shell)');
    });
  });

  describe('when the arguments are invalid at run time', () => {
    it.each([
      ['a single string instead of a list', { argv: 'ls -la' }],
      ['an empty list', { argv: [] }],
      ['an empty program', { argv: [''] }],
      ['an unknown argument', { argv: ['ls'], shell: true }],
      ['an unresolved env template', { argv: ['ls'], env: '{{ params.env }}' }],
      ['a NUL byte in an argument', { argv: ['ls', 'a\u0000b'] }],
    ])('rejects %s with executor_input_invalid', async (_what, args) => {
      const error = await rejectionOf(createRunExecutor().run(args, createTestContext().ctx));
      expect(toStepError(error)).toMatchObject({ code: 'executor_input_invalid', retryable: false });
    });
  });

  describe('when the call is aborted before it starts', () => {
    it('starts nothing and reports executor_aborted', async () => {
      const { ctx, controller } = createTestContext();
      controller.abort();
      const marker = join(tmpdir(), `run-aborted-${process.pid}-${Date.now()}`);
      const error = await rejectionOf(createRunExecutor().run({ argv: [process.execPath, '-e', 'require("fs").writeFileSync(process.argv[1], "x")', marker] }, ctx));
      expect(toStepError(error).code).toBe('executor_aborted');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(existsSync(marker)).toBe(false);
    });
  });
});

describe('TailBuffer', () => {
  describe('when more is written than the limit', () => {
    it('keeps the last bytes and marks the cut', () => {
      const buffer = new TailBuffer(8);
      for (const part of ['hello ', 'wide ', 'world']) buffer.push(Buffer.from(part));
      expect(buffer.truncated).toBe(true);
      expect(buffer.text()).toBe('…[truncated 8 bytes]\nde world');
    });

    it('never starts inside a multi-byte character', () => {
      const buffer = new TailBuffer(5);
      buffer.push(Buffer.from('ééé'));
      expect(buffer.text()).toBe('…[truncated 2 bytes]\néé');
    });
  });

  describe('when less is written than the limit', () => {
    it('returns it whole, unmarked', () => {
      const buffer = new TailBuffer(64);
      buffer.push(Buffer.from('ok'));
      expect([buffer.text(), buffer.truncated]).toEqual(['ok', false]);
    });
  });
});

describe('headOf', () => {
  it('cuts long text and says how much was cut', () => {
    expect(headOf('abcdef', 3)).toEqual({ text: 'abc…[truncated 3 bytes]', truncated: true });
    expect(headOf('abc', 3)).toEqual({ text: 'abc', truncated: false });
  });
});

describe('redactJson', () => {
  it('redacts strings and keys at any depth, keeping the structure', () => {
    const redact = (text: string) => text.split('s3cret').join('[redacted]');
    expect(redactJson({ a: ['x s3cret', 1, null], s3cret: { b: 's3cret' } }, redact)).toEqual({ a: ['x [redacted]', 1, null], '[redacted]': { b: '[redacted]' } });
  });
});

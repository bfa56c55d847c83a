import { describe, expect, it } from 'vitest';
import { createRollbackExecutor } from '../../../src/executors/rollback.ts';
import { parseTargets } from '../../../src/executors/targets.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

const targets = parseTargets('models:\n  model-x: { backend: http, base_url: "http://127.0.0.1:9" }\n  model-b: { backend: ssm, document: Roll }\n', 'targets.yaml');

describe('rollback executor', () => {
  const executor = createRollbackExecutor({ targets });

  describe('when the arguments are invalid', () => {
    it('fails with executor_input_invalid, before any request', async () => {
      const error = await rejectionOf(executor.run({ model: '', version: 'v1' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'executor_input_invalid', retryable: false });
      expect(error.message).toContain('unknown argument `version`');
    });
  });

  describe('when the control API cannot be reached', () => {
    it('fails with retryable rollback_backend_unavailable', async () => {
      const error = await rejectionOf(executor.run({ model: 'model-x' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'rollback_backend_unavailable', retryable: true });
      expect(error.message).toMatch(/^GET http:\/\/127\.0\.0\.1:9\/v1\/models\/model-x\/deployment failed: fetch failed/);
    });
  });

  describe('plan', () => {
    it('shows the previous version as the default and the backend of each entry', () => {
      expect(executor.plan?.({ model: 'model-x' })[0]).toBe('rollback model-x → the previous version via http http://127.0.0.1:9 (targets.yaml:2:3 model-x)');
      expect(executor.plan?.({ model: 'model-b', to: 'v3' })).toEqual([
        'rollback model-b → v3 via ssm document Roll (targets.yaml:3:3 model-b)',
        'StartAutomationExecution Roll with Model, Version; the document checks, switches and waits',
      ]);
    });

    it('says when no entry matches', () => {
      expect(executor.plan?.({ model: 'model-z' })[0]).toContain('via an unresolved target (targets.yaml has no entry for `model-z`');
    });
  });
});

describe('rollback executor plan with run-time values', () => {
  it('does not guess the entry of a model known only at run time', () => {
    const [line] = createRollbackExecutor({ targets }).plan?.({ model: '⟨params.model⟩', to: '⟨steps.resolved.output.version⟩' }) ?? [];
    expect(line).toBe('rollback ⟨params.model⟩ → ⟨steps.resolved.output.version⟩ via the targets.yaml entry chosen at run time');
  });
});

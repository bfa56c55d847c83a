import { describe, expect, it } from 'vitest';
import { createFailoverExecutor, shiftedWeights } from '../../../src/executors/failover.ts';
import { parseTargets } from '../../../src/executors/targets.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

describe('shiftedWeights', () => {
  describe('when the target has no traffic yet', () => {
    it('moves the given percent of the pair onto the target', () => {
      expect(shiftedWeights({ a: 100, b: 0 }, 'a', 'b', 10)).toEqual({ a: 90, b: 10 });
      expect(shiftedWeights({ a: 100, b: 0 }, 'a', 'b', 100)).toEqual({ a: 0, b: 100 });
    });
  });

  describe('when other regions take traffic', () => {
    it('keeps their weights and the total', () => {
      expect(shiftedWeights({ a: 45, b: 10, c: 45 }, 'a', 'b', 50)).toEqual({ a: 27, b: 28, c: 45 });
    });
  });
});

describe('failover executor', () => {
  const executor = createFailoverExecutor({ targets: parseTargets('services:\n  svc: { backend: http, base_url: "http://127.0.0.1:9" }\n', 'targets.yaml'), stepSettleMs: 0 });

  describe('when the arguments are invalid', () => {
    it('fails with executor_input_invalid naming every problem, before any request', async () => {
      const error = await rejectionOf(executor.run({ service: 'svc', from: 'a', to: 'a', shift: [50, 10] }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'executor_input_invalid', retryable: false });
      expect(error.message).toContain('shift: expected strictly increasing percentages');
      expect(error.message).toContain('to: expected a region other than `from`');
    });
  });

  describe('when no entry matches the service', () => {
    it('fails with targets_entry_not_found, and plan says why nothing can run', async () => {
      const error = await rejectionOf(executor.run({ service: 'checkout', from: 'a', to: 'b' }, createTestContext().ctx));
      expect(error).toMatchObject({ code: 'targets_entry_not_found', retryable: false });
      expect(executor.plan?.({ service: 'checkout', from: 'a', to: 'b' })[1]).toBe('nothing can run until targets.yaml has an entry for it');
    });
  });

  describe('plan', () => {
    it('defaults the shift to one step of 100%', () => {
      expect(executor.plan?.({ service: 'svc', from: 'a', to: 'b' })[0]).toBe('failover svc a → b in steps 100% via http http://127.0.0.1:9 (targets.yaml:2:3 svc)');
    });
  });
});

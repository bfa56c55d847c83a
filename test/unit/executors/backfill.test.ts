import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { ExecutorError, type Executor } from '../../../src/executors/contract.ts';
import { createBackfillExecutor, parsePlan } from '../../../src/executors/backfill.ts';
import { backfillKeys, listPartitions, partitionJobId } from '../../../src/executors/backfill-partitions.ts';
import { createHttpExecutor } from '../../../src/executors/http.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

const registry = new Map<string, Executor>([['http', createHttpExecutor()]]);
const executors = () => registry;

const call = { executor: 'http', method: 'POST', url: 'https://pipeline.example/v1/partitions/{{ partition }}', json: { partition: '{{ partition }}' } };
const args = (overrides: Record<string, unknown> = {}) => ({ dataset: 'features.daily', from: '2024-05-01', to: '2024-05-10', partition: 'day', parallelism: 3, call, ...overrides });

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof ExecutorError ? error.code : `not an ExecutorError: ${String(error)}`;
  }
  return undefined;
}

describe('listPartitions', () => {
  describe('when partitioned by day', () => {
    it('lists every day from `from` to `to`, both included', () => {
      const days = listPartitions('2024-05-01', '2024-05-10', 'day');
      expect(days).toHaveLength(10);
      expect([days[0], days[9]]).toEqual(['2024-05-01', '2024-05-10']);
    });

    it('walks calendar days across a leap day and a month end', () => {
      expect(listPartitions('2024-02-28', '2024-03-01', 'day')).toEqual(['2024-02-28', '2024-02-29', '2024-03-01']);
    });

    it('gives one partition when `from` and `to` are the same day', () => {
      expect(listPartitions('2024-05-01', '2024-05-01', 'day')).toEqual(['2024-05-01']);
    });

    it('refuses a date with an hour', () => {
      expect(codeOf(() => listPartitions('2024-05-01T03', '2024-05-02', 'day'))).toBe('executor_input_invalid');
    });
  });

  describe('when partitioned by hour', () => {
    it('counts 48 partitions over two whole days', () => {
      const hours = listPartitions('2024-05-01', '2024-05-02', 'hour');
      expect(hours).toHaveLength(48);
      expect([hours[0], hours[23], hours[24], hours[47]]).toEqual(['2024-05-01T00', '2024-05-01T23', '2024-05-02T00', '2024-05-02T23']);
    });

    it('starts and ends at the given hours', () => {
      expect(listPartitions('2024-05-01T22', '2024-05-02T01', 'hour')).toEqual(['2024-05-01T22', '2024-05-01T23', '2024-05-02T00', '2024-05-02T01']);
    });
  });

  describe('when the range is wrong or too large', () => {
    it('refuses `to` before `from`', () => {
      expect(codeOf(() => listPartitions('2024-05-10', '2024-05-01', 'day'))).toBe('executor_input_invalid');
    });

    it('refuses an impossible date', () => {
      expect(codeOf(() => listPartitions('2024-02-30', '2024-03-01', 'day'))).toBe('executor_input_invalid');
    });

    it('refuses more partitions than the cap, saying how many and what to do', () => {
      expect(codeOf(() => listPartitions('1990-01-01', '2024-12-31', 'day'))).toBe('backfill_too_many_partitions');
      expect(() => listPartitions('2023-01-01', '2024-12-31', 'hour')).toThrow(/17544 partitions.*10000.*split the range/);
      expect(listPartitions('2024-01-01', '2024-01-05', 'day', 5)).toHaveLength(5);
      expect(codeOf(() => listPartitions('2024-01-01', '2024-01-06', 'day', 5))).toBe('backfill_too_many_partitions');
    });
  });
});

describe('partition job ids and keys', () => {
  const scope = { runId: '01HZX', stepId: 'back:fill', phase: 'do' as const };

  it('gives a deterministic id per attempt and partition, without `:`', () => {
    expect(partitionJobId(scope, 2, '2024-05-01T13')).toBe('bf-01HZX-back_fill-do-2-2024-05-01T13');
    expect(partitionJobId(scope, 2, '2024-05-01T13')).not.toBe(partitionJobId(scope, 3, '2024-05-01T13'));
  });

  it('keys the done and failed records by run, step and phase, not attempt', () => {
    expect(backfillKeys('rb:bull', scope)).toEqual({
      done: 'rb:bull:backfill:01HZX:back:fill:do:done',
      failed: 'rb:bull:backfill:01HZX:back:fill:do:failed',
      cancelled: 'rb:bull:backfill:01HZX:back:fill:do:cancelled',
    });
  });
});

describe('parsePlan', () => {
  it('keeps {{ partition }} in the call and splits off the executor', () => {
    const plan = parsePlan(args(), { executors });
    expect(plan).toMatchObject({ dataset: 'features.daily', unit: 'day', parallelism: 3, executor: 'http' });
    expect(plan.call).toMatchObject({ url: 'https://pipeline.example/v1/partitions/{{ partition }}', json: { partition: '{{ partition }}' } });
    expect(plan.call).not.toHaveProperty('executor');
    expect(plan.partitions).toHaveLength(10);
  });

  describe('when the arguments are wrong', () => {
    it('names a template that was never resolved', () => {
      expect(() => parsePlan(args({ from: '{{ params.from }}' }), { executors })).toThrow(/from: a template was never resolved/);
    });

    it('refuses an executor the partitions cannot use', () => {
      expect(codeOf(() => parsePlan(args({ call: { ...call, executor: 'rollback' } }), { executors }))).toBe('executor_input_invalid');
    });

    it('refuses a call whose executor this worker does not have', () => {
      expect(codeOf(() => parsePlan(args({ call: { executor: 'run', argv: ['true', '{{ partition }}'] } }), { executors }))).toBe('executor_unavailable');
    });

    it('fails before any partition runs when the call cannot be rendered', () => {
      expect(codeOf(() => parsePlan(args({ call: { ...call, url: 'https://pipeline.example/{{ partition.day }}' } }), { executors }))).toBe('template_eval');
    });
  });
});

describe('backfill executor', () => {
  const lazy: Redis[] = [];
  afterEach(() => lazy.splice(0).forEach((redis) => redis.disconnect()));

  it('rejects bad arguments before touching Redis', async () => {
    const redis = new Redis({ lazyConnect: true });
    lazy.push(redis);
    const executor = createBackfillExecutor({ connection: redis, prefix: 'never', executors });
    const error = await rejectionOf(executor.run(args({ to: '2024-04-01' }), createTestContext().ctx));
    expect(error).toMatchObject({ code: 'executor_input_invalid', retryable: false });
    expect(redis.status).toBe('wait');
    await executor.close();
  });

  it('plans the range, the count, the limit and the nested call', () => {
    const redis = new Redis({ lazyConnect: true });
    lazy.push(redis);
    const executor = createBackfillExecutor({ connection: redis, prefix: 'never', executors });
    const lines = executor.plan?.(args()) ?? [];
    expect(lines[0]).toBe('backfill features.daily: 10 day partitions from 2024-05-01 to 2024-05-10, 3 at a time; partitions done by an earlier attempt are skipped');
    expect(lines.join('\n')).toContain('  POST https://pipeline.example/v1/partitions/{{ partition }}');
  });
});

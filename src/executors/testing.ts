/**
 * Executors for tests and the local sandbox: `record` (a side effect that is observable and
 * idempotent by key), `fail` (fails N times per step, then succeeds) and `slow` (takes its time,
 * honours abort). They keep their state in Redis so several worker processes agree.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ExecutorSpec } from '../machines/executor-spec.ts';
import { ExecutorError, sleep, type Executor } from './contract.ts';

export const TEST_EXECUTOR_SPECS: readonly ExecutorSpec[] = [
  { name: 'record', summary: 'Records a side effect once per idempotency key (tests, sandbox).', kind: 'call', mutating: true, args: z.strictObject({ label: z.string().optional(), value: z.unknown().optional() }) },
  { name: 'fail', summary: 'Fails the first `times` calls of a step, then succeeds (tests).', kind: 'call', mutating: false, args: z.strictObject({ times: z.union([z.number().int().min(0), z.string()]), code: z.string().optional(), retryable: z.boolean().optional() }) },
  { name: 'slow', summary: 'Takes `ms` milliseconds, then records like `record` (tests).', kind: 'call', mutating: true, args: z.strictObject({ ms: z.union([z.number().int().min(0), z.string()]), label: z.string().optional() }) },
];

export interface TestExecutorState {
  /** Every call, in order (redeliveries included); `slow` also logs when it starts (`started: true`). */
  calls(): Promise<{ key: string; label?: string; started?: boolean }[]>;
  /** Side effects applied: one per idempotency key. */
  effects(): Promise<{ key: string; label?: string }[]>;
}

export function createTestExecutors(redis: Redis, prefix: string): { executors: Executor[]; state: TestExecutorState } {
  const callsKey = `${prefix}:test:calls`;
  const effectsKey = `${prefix}:test:effects`;
  const doneKey = (key: string) => `${prefix}:test:done:${key}`;
  const spec = (name: string) => TEST_EXECUTOR_SPECS.find((s) => s.name === name) as ExecutorSpec;
  // One script: a kill can never leave the effect applied but unlogged. SET NX makes the side
  // effect happen once per key, however often the call is delivered.
  const APPLY = `redis.call('RPUSH', KEYS[1], ARGV[1])
if redis.call('SET', KEYS[3], '1', 'NX') then redis.call('RPUSH', KEYS[2], ARGV[1]) return 1 end
return 0`;
  const logCall = (key: string, label: string | undefined) => redis.rpush(callsKey, JSON.stringify({ key, label, started: true }));
  const apply = async (key: string, label: string | undefined) => {
    const first = (await redis.eval(APPLY, 3, callsKey, effectsKey, doneKey(key), JSON.stringify({ key, label }))) === 1;
    return { key, label: label ?? null, first };
  };
  const record: Executor = {
    spec: spec('record'),
    run: async (input, ctx) => apply(ctx.idempotencyKey, (input as { label?: string }).label),
  };
  const fail: Executor = {
    spec: spec('fail'),
    run: async (input, ctx) => {
      const args = input as { times: number | string; code?: string; retryable?: boolean };
      const count = await redis.incr(`${prefix}:test:fail:${ctx.runId}:${ctx.stepId}`);
      if (count <= Number(args.times)) throw new ExecutorError(args.code ?? 'test_failure', `failure ${count} of ${args.times}`, { retryable: args.retryable ?? true });
      return { calls: count };
    },
  };
  const slow: Executor = {
    spec: spec('slow'),
    run: async (input, ctx) => {
      const args = input as { ms: number | string; label?: string };
      await logCall(ctx.idempotencyKey, args.label);
      await sleep(Number(args.ms), ctx.signal);
      return apply(ctx.idempotencyKey, args.label);
    },
  };
  const read = async (key: string) => (await redis.lrange(key, 0, -1)).map((t) => JSON.parse(t) as { key: string; label?: string; started?: boolean });
  return { executors: [record, fail, slow], state: { calls: () => read(callsKey), effects: () => read(effectsKey) } };
}

/**
 * The executors a worker process runs, built once from configuration. The catalog the compiler
 * uses (`specs.ts`) names more executors than exist here until each is implemented; a step whose
 * executor is missing fails with `executor_unavailable` rather than hang.
 */
import type { Redis } from 'ioredis';
import type { Executor, ExecutorRegistry } from './contract.ts';
import { createHttpExecutor, type HttpExecutorOptions } from './http.ts';
import { createRunExecutor } from './run.ts';
import { createSsmAutomationExecutor } from './ssm-automation.ts';
import { createSsmExecutor } from './ssm.ts';
import { createSsmClient } from '../integrations/ssm.ts';
import { createTestExecutors } from './testing.ts';

export interface RegistryOptions {
  readonly allowHost?: HttpExecutorOptions['allowHost'];
  /** Redis and key prefix for the test executors; omit to leave them out. */
  readonly testExecutors?: { readonly redis: Redis; readonly prefix: string };
}

/**
 * The worker's output cap (`MAX_OUTPUT_CHARS`, 64 KiB of JSON) is what reaches the run; the
 * executors read a little less, so a response keeps its fields instead of being cut to a preview.
 */
const HTTP_BODY_BYTES = 48 * 1024;
const RUN_STREAM_BYTES = 16 * 1024;

export function createExecutorRegistry(options: RegistryOptions = {}): ExecutorRegistry {
  const ssmClient = createSsmClient();
  const executors: Executor[] = [
    createHttpExecutor({ maxBodyBytes: HTTP_BODY_BYTES, ...(options.allowHost ? { allowHost: options.allowHost } : {}) }),
    createRunExecutor({ maxStreamBytes: RUN_STREAM_BYTES }),
    createSsmExecutor({ client: ssmClient }),
    createSsmAutomationExecutor({ client: ssmClient }),
  ];
  if (options.testExecutors) executors.push(...createTestExecutors(options.testExecutors.redis, options.testExecutors.prefix).executors);
  return new Map(executors.map((e) => [e.spec.name, e]));
}

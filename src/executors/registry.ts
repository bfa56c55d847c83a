/**
 * The executors a worker process runs, built once from configuration. A step whose executor is
 * missing here (for example `rollback` without a `targets.yaml`) fails with
 * `executor_unavailable` and says why, rather than hang.
 */
import { existsSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { createSsmClient } from '../integrations/ssm.ts';
import { createPagerDutyClient, type PagerDutyClientOptions } from '../integrations/pagerduty.ts';
import { createSlackMessenger, type SlackClientOptions } from '../integrations/slack.ts';
import { createNotifyExecutor } from './notify.ts';
import { createPageExecutor } from './page.ts';
import { createBackfillExecutor, type BackfillExecutor } from './backfill.ts';
import type { Executor, ExecutorLogger, ExecutorRegistry } from './contract.ts';
import { createFailoverExecutor } from './failover.ts';
import { createHttpExecutor, type HttpExecutorOptions } from './http.ts';
import { createRollbackExecutor } from './rollback.ts';
import { createRunExecutor } from './run.ts';
import { createSsmAutomationExecutor } from './ssm-automation.ts';
import { createSsmExecutor } from './ssm.ts';
import { loadTargets } from './targets.ts';
import { createTestExecutors } from './testing.ts';

export interface RegistryOptions {
  readonly allowHost?: HttpExecutorOptions['allowHost'];
  /** Where `http` calls really go (the sandbox's host mapping); the allowlist, logs and outputs keep the runbook's URL. @default as written */
  readonly resolveUrl?: HttpExecutorOptions['resolveUrl'];
  /** `targets.yaml` for `rollback` and `failover`; without the file those two are unavailable. */
  readonly targetsFile?: string;
  /** Redis and BullMQ prefix for `backfill`'s partition jobs; omit to leave `backfill` out. */
  readonly backfill?: { readonly connection: Redis; readonly prefix: string };
  /** Redis and key prefix for the test executors; omit to leave them out. */
  readonly testExecutors?: { readonly redis: Redis; readonly prefix: string };
  readonly logger?: ExecutorLogger;
  readonly slack?: SlackClientOptions;
  readonly pagerDuty?: PagerDutyClientOptions;
  /** Service for pages that name only an escalation policy. */
  readonly pagerDutyDefaultService?: string;
}

export interface BuiltRegistry {
  readonly executors: ExecutorRegistry;
  /** Why an executor of the catalog is not here, for the `executor_unavailable` message. */
  readonly unavailable: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

/**
 * The worker's output cap (`MAX_OUTPUT_CHARS`, 64 KiB of JSON) is what reaches the run; the
 * executors read a little less, so a response keeps its fields instead of being cut to a preview.
 */
const HTTP_BODY_BYTES = 48 * 1024;
const RUN_STREAM_BYTES = 16 * 1024;

export function createExecutorRegistry(options: RegistryOptions = {}): BuiltRegistry {
  const ssmClient = createSsmClient();
  const allowHost = options.allowHost ? { allowHost: options.allowHost } : {};
  const executors: Executor[] = [
    createHttpExecutor({ maxBodyBytes: HTTP_BODY_BYTES, ...allowHost, ...(options.resolveUrl ? { resolveUrl: options.resolveUrl } : {}) }),
    createRunExecutor({ maxStreamBytes: RUN_STREAM_BYTES }),
    createSsmExecutor({ client: ssmClient }),
    createSsmAutomationExecutor({ client: ssmClient }),
  ];
  const unavailable = new Map<string, string>();
  const targetsFile = options.targetsFile ?? './targets.yaml';
  if (existsSync(targetsFile)) {
    const targets = loadTargets(targetsFile);
    executors.push(createRollbackExecutor({ targets, ssm: { client: ssmClient }, ...allowHost }), createFailoverExecutor({ targets, ssm: { client: ssmClient }, ...allowHost }));
  } else {
    const why = `no targets file at ${targetsFile} (set TARGETS_FILE; see targets.example.yaml)`;
    unavailable.set('rollback', why).set('failover', why);
  }
  if (options.slack) executors.push(createNotifyExecutor({ slack: createSlackMessenger(options.slack) }));
  else unavailable.set('notify', 'SLACK_BOT_TOKEN is not set');
  if (options.pagerDuty) {
    const defaultService = options.pagerDutyDefaultService ? { defaultService: options.pagerDutyDefaultService } : {};
    executors.push(createPageExecutor({ pagerduty: createPagerDutyClient(options.pagerDuty), ...defaultService }));
  } else unavailable.set('page', 'PAGERDUTY_TOKEN and PAGERDUTY_FROM are not set');
  if (options.testExecutors) executors.push(...createTestExecutors(options.testExecutors.redis, options.testExecutors.prefix).executors);
  const registry = new Map(executors.map((e) => [e.spec.name, e]));
  let backfill: BackfillExecutor | undefined;
  if (options.backfill) {
    backfill = createBackfillExecutor({ ...options.backfill, executors: () => registry });
    registry.set('backfill', backfill);
  } else {
    unavailable.set('backfill', 'this process runs no partition worker');
  }
  return { executors: registry, unavailable, close: async () => backfill?.close() };
}

/**
 * Configuration from the environment (DESIGN.md §5), validated once at start: every bad value
 * is reported with what was expected, never as a stack trace, and secrets are never echoed.
 */
import { resolve } from 'node:path';
import { pagerDutyOptionsFromEnv, type PagerDutyClientOptions } from '../integrations/pagerduty.ts';
import { parseWebhookSecrets } from '../integrations/pagerduty-signature.ts';
import { slackOptionsFromEnv, type SlackClientOptions } from '../integrations/slack.ts';
import { parseHostMapping, SANDBOX_HOSTS_ENV, type HostMapping } from '../sandbox/hosts.ts';
import { CliError } from './cli-error.ts';
import { auditConfigFromEnv, type AuditConfig } from './audit-config.ts';

export interface AppConfig {
  /** `SANDBOX_HOSTS`: production hosts answered by loopback stand-ins (tests, `runbook sandbox`); unset in production. */
  readonly sandboxHosts?: HostMapping;
  readonly dataDir: string;
  readonly runbooksDir: string;
  /** `targets.yaml`: which backend controls each model's serving and service's traffic. */
  readonly targetsFile: string;
  /** `POLICY_FILE`: policy as code (`policy.yaml`); a missing file means the built-in defaults. */
  readonly policyFile: string;
  /** Unset: start a private redis-server in `dataDir`. */
  readonly redisUrl?: string;
  readonly redisPrefix: string;
  readonly workerConcurrency: number;
  /** Registers the `record`/`fail`/`slow` test executors (tests and the sandbox). */
  readonly testExecutors: boolean;
  readonly fault?: { readonly point: 'before-executor' | 'during-executor' | 'after-executor'; readonly stepId: string };
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Slack Web API (`SLACK_BOT_TOKEN`, `SLACK_API_URL`); unset: the `notify` executor is unavailable. */
  readonly slack?: SlackClientOptions;
  /** PagerDuty REST (`PAGERDUTY_TOKEN`, `PAGERDUTY_FROM`, `PAGERDUTY_API_URL`); unset: `page` is unavailable. */
  readonly pagerDuty?: PagerDutyClientOptions;
  /** Service for pages that name only an escalation policy (`PAGERDUTY_DEFAULT_SERVICE`). */
  readonly pagerDutyDefaultService?: string;
  /** `PAGERDUTY_WEBHOOK_SECRET` (comma-separated while rotating): verifies `POST /pagerduty/webhook`; unset: the route answers 503. */
  readonly pagerDutyWebhookSecrets?: readonly string[];
  /** The audit store and its digests (`DATABASE_URL`, `AUDIT_SIGNING_KEY`, `AUDIT_DIGEST_INTERVAL`, `AUDIT_DATABASE_SCHEMA`). */
  readonly audit: AuditConfig;
}

const FAULT_POINTS = ['before-executor', 'during-executor', 'after-executor'] as const;
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export function loadConfig(env: Readonly<Record<string, string | undefined>>, cwd: string): AppConfig {
  const problems: string[] = [];
  const value = (name: string) => (env[name]?.trim() ? env[name]?.trim() : undefined);
  const integer = (name: string, fallback: number, min: number, max: number) => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${name} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
    return Number.isInteger(n) ? n : fallback;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T | undefined): T | undefined => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    problems.push(`${name} must be one of ${allowed.join(', ')}; got ${JSON.stringify(raw)}`);
    return fallback;
  };
  const prefix = value('RUNBOOK_REDIS_PREFIX') ?? 'rb';
  if (!/^[A-Za-z0-9{}_.-]{1,64}$/.test(prefix)) problems.push(`RUNBOOK_REDIS_PREFIX must be 1-64 letters, digits, {}, _, . or -; got ${JSON.stringify(prefix)}`);
  const faultPoint = oneOf('RUNBOOK_FAULT_POINT', FAULT_POINTS, undefined);
  const faultStep = value('RUNBOOK_FAULT_STEP');
  if (faultPoint && !faultStep) problems.push('RUNBOOK_FAULT_POINT needs RUNBOOK_FAULT_STEP (the step id to fail at)');
  const slack = slackOptionsFromEnv(env);
  const pagerDuty = pagerDutyOptionsFromEnv(env);
  problems.push(...slack.problems, ...pagerDuty.problems);
  const audit = auditConfigFromEnv(env);
  problems.push(...audit.problems);
  const sandboxHosts = value(SANDBOX_HOSTS_ENV) === undefined ? undefined : parseHostMapping(value(SANDBOX_HOSTS_ENV) ?? '');
  if (sandboxHosts && !sandboxHosts.ok) problems.push(...sandboxHosts.problems);
  const config: AppConfig = {
    ...(sandboxHosts?.ok ? { sandboxHosts: sandboxHosts.mapping } : {}),
    dataDir: resolve(cwd, value('DATA_DIR') ?? 'var'),
    runbooksDir: resolve(cwd, value('RUNBOOKS_DIR') ?? 'runbooks'),
    targetsFile: resolve(cwd, value('TARGETS_FILE') ?? 'targets.yaml'),
    policyFile: resolve(cwd, value('POLICY_FILE') ?? 'policy.yaml'),
    ...(value('REDIS_URL') ? { redisUrl: value('REDIS_URL') } : {}),
    redisPrefix: prefix,
    workerConcurrency: integer('WORKER_CONCURRENCY', 8, 1, 256),
    testExecutors: value('RUNBOOK_TEST_EXECUTORS') === '1' || value('RUNBOOK_TEST_EXECUTORS') === 'true',
    ...(faultPoint && faultStep ? { fault: { point: faultPoint, stepId: faultStep } } : {}),
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, 'info') ?? 'info',
    ...(slack.options ? { slack: slack.options } : {}),
    ...(pagerDuty.options ? { pagerDuty: pagerDuty.options } : {}),
    ...(value('PAGERDUTY_DEFAULT_SERVICE') ? { pagerDutyDefaultService: value('PAGERDUTY_DEFAULT_SERVICE') } : {}),
    ...(parseWebhookSecrets(value('PAGERDUTY_WEBHOOK_SECRET')).length > 0 ? { pagerDutyWebhookSecrets: parseWebhookSecrets(value('PAGERDUTY_WEBHOOK_SECRET')) } : {}),
    audit: audit.config,
  };
  if (problems.length > 0) throw new CliError('config_invalid', problems.join('\n'));
  return config;
}

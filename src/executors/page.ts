/**
 * The `page` executor: opens a PagerDuty incident (`POST /incidents`) on a service, optionally with
 * an escalation policy that overrides the service's, through the client of
 * `src/integrations/pagerduty.ts`.
 *
 * Idempotent under retry: the incident's `incident_key` is a hash of `runId/stepId/phase`, the same
 * for every delivery and every attempt of one step execution. PagerDuty refuses a second create
 * with the key of an open incident, and the client then adopts that incident, so a retried or
 * redelivered page returns the same incident instead of paging twice. (Once that incident is
 * resolved, the same key opens a new one.)
 *
 * PagerDuty's REST API needs a service: a page that names only `escalation_policy` goes to
 * `defaultService`, and fails (not retryable) when none is configured.
 *
 * Output: `{ incident_id, incident_number, html_url, status, adopted }`. Errors: `page_failed`
 * (not retryable for 4xx, with PagerDuty's message; retryable for 429, 5xx, network errors and
 * timeouts), `executor_input_invalid`; an abort rejects with an AbortError (`executor_aborted`).
 */
import { createHash } from 'node:crypto';
import type { PagerDutyClient } from '../integrations/pagerduty.ts';
import { ExecutorError, type Executor, type ExecutorContext } from './contract.ts';
import { describeValueForPlan, headOf } from './limits.ts';
import { BUILTIN_EXECUTOR_SPECS, isTemplate, pageArgs } from './specs.ts';

/** Options of {@link createPageExecutor}. */
export interface PageExecutorOptions {
  /** The PagerDuty REST client (`createPagerDutyClient`). */
  readonly pagerduty: PagerDutyClient;
  /** Service (name or id) for a page that names only `escalation_policy`. @default none */
  readonly defaultService?: string;
  /** Characters of `details` sent; the rest is cut and marked. @default 16000 */
  readonly maxDetailsChars?: number;
}

interface PageCall {
  readonly service: string | undefined;
  readonly escalationPolicy: string | undefined;
  /** Set: escalate this existing incident instead of opening one. */
  readonly incident: string | undefined;
  readonly escalationLevel: number | undefined;
  readonly title: string;
  readonly urgency: 'high' | 'low' | undefined;
  readonly details: string | Readonly<Record<string, unknown>> | undefined;
}

/** The failure shape `PagerDutyClient` rejects with (`PagerDutyError`), read by its fields. */
interface PagerDutyFailure { readonly code: string; readonly retryable: boolean; readonly status?: number | undefined; readonly message: string }

/** PagerDuty limits `title` to 1024 characters (it truncates longer ones); cut here, marked. */
const MAX_TITLE_CHARS = 1_000;

/** `runbook-<32 hex>`: the `incident_key` of a step execution, the same for every attempt. */
export function incidentKeyFor(ctx: Pick<ExecutorContext, 'runId' | 'stepId' | 'phase'>): string {
  return `runbook-${createHash('sha256').update(`${ctx.runId}/${ctx.stepId}/${ctx.phase}`).digest('hex').slice(0, 32)}`;
}

/** Creates the `page` executor (see the module comment for idempotency, output and errors). */
export function createPageExecutor(options: PageExecutorOptions): Executor {
  const spec = BUILTIN_EXECUTOR_SPECS.find((candidate) => candidate.name === 'page');
  if (!spec) throw new Error('no built-in executor spec named page');
  const maxDetailsChars = options.maxDetailsChars ?? 16_000;
  return {
    spec,
    run: async (input, ctx) => {
      const call = parseArgs(input, ctx);
      if (call.incident !== undefined) return escalate(options.pagerduty, call.incident, call, ctx);
      const serviceName = call.service ?? options.defaultService;
      if (serviceName === undefined) {
        throw new ExecutorError('page_failed', `page: PagerDuty opens incidents on a service; escalation_policy ${call.escalationPolicy ?? ''} alone needs a default service (PageExecutorOptions.defaultService)`, { retryable: false });
      }
      try {
        const serviceId = await options.pagerduty.resolveServiceId(serviceName, ctx.signal);
        if (serviceId === undefined) throw new ExecutorError('page_failed', `page: PagerDuty has no service named ${JSON.stringify(ctx.redact(serviceName))}`, { retryable: false });
        const incidentKey = incidentKeyFor(ctx);
        const { incident, created } = await options.pagerduty.createIncident({
          service: serviceId,
          title: headOf(ctx.redact(call.title), MAX_TITLE_CHARS).text,
          incidentKey,
          ...(call.escalationPolicy ? { escalationPolicy: call.escalationPolicy } : {}),
          ...(call.urgency ? { urgency: call.urgency } : {}),
          ...(call.details === undefined ? {} : { details: headOf(ctx.redact(renderDetails(call.details)), maxDetailsChars).text }),
        }, ctx.signal);
        ctx.logger.info({ incident: incident.id, number: incident.incident_number, adopted: !created, service: serviceId }, created ? 'page: opened a PagerDuty incident' : 'page: adopted the open incident of an earlier attempt');
        return { incident_id: incident.id, incident_number: incident.incident_number, html_url: incident.html_url, status: incident.status, adopted: !created };
      } catch (error) {
        throw toPageError(error, ctx);
      }
    },
    plan: planPage,
  };
}

/**
 * Escalates an existing incident: hands it to `escalation_policy` and/or raises it to
 * `escalation_level`. Both are absolute, so a retried or redelivered call sets the same state
 * again rather than escalating one more level. A resolved incident is reported, not re-opened.
 */
async function escalate(pagerduty: PagerDutyClient, incidentId: string, call: PageCall, ctx: ExecutorContext): Promise<Record<string, unknown>> {
  try {
    const incident = await pagerduty.updateIncident(incidentId, {
      ...(call.escalationPolicy ? { escalation_policy: { id: call.escalationPolicy, type: 'escalation_policy_reference' } } : {}),
      ...(call.escalationLevel !== undefined ? { escalation_level: call.escalationLevel } : {}),
    }, ctx.signal);
    ctx.logger.info({ incident: incident.id, level: incident.escalation_level, policy: call.escalationPolicy }, 'page: escalated a PagerDuty incident');
    return { incident_id: incident.id, incident_number: incident.incident_number, html_url: incident.html_url, status: incident.status, escalation_level: incident.escalation_level ?? null, escalated: true };
  } catch (error) {
    throw toPageError(error, ctx);
  }
}

/** `details` as the text of the incident body: text as is, a mapping as `key: value` lines. */
export function renderDetails(details: string | Readonly<Record<string, unknown>>): string {
  if (typeof details === 'string') return details;
  return Object.entries(details).map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`).join('\n');
}

function toPageError(error: unknown, ctx: ExecutorContext): Error {
  if (error instanceof ExecutorError) return error;
  if (ctx.signal.aborted || (error instanceof Error && error.name === 'AbortError')) {
    const aborted = new Error('page: the PagerDuty call was aborted');
    aborted.name = 'AbortError';
    return aborted;
  }
  const failure = asFailure(error, ctx);
  return new ExecutorError('page_failed', `page: ${failure.message}`, { retryable: failure.retryable, cause: error });
}

function asFailure(error: unknown, ctx: ExecutorContext): PagerDutyFailure {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as Partial<PagerDutyFailure>;
  const message = ctx.redact(error instanceof Error ? error.message : String(error));
  if (typeof shape.code !== 'string' || typeof shape.retryable !== 'boolean') return { code: 'pagerduty_request_failed', retryable: true, message };
  return { code: shape.code, retryable: shape.retryable, status: shape.status, message };
}

function parseArgs(input: unknown, ctx: ExecutorContext): PageCall {
  const parsed = pageArgs.safeParse(input);
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'arguments'}: ${issue.message}`);
  if (!parsed.success) throw invalidInput(problems, ctx);
  const args = parsed.data;
  for (const key of ['service', 'escalation_policy', 'urgency', 'incident'] as const) {
    if (isTemplate(args[key])) problems.push(`${key}: a template was never resolved: ${JSON.stringify(args[key])}`);
  }
  if (args.incident !== undefined && !/^[A-Z0-9]{1,40}$/.test(args.incident)) problems.push(`incident: expected a PagerDuty incident id such as Q1ABC2DEF3GH4, found ${JSON.stringify(args.incident)}`);
  if (args.escalation_level !== undefined && typeof args.escalation_level !== 'number') problems.push(`escalation_level: expected a whole number, found ${JSON.stringify(args.escalation_level)}`);
  const urgency = args.urgency === 'high' || args.urgency === 'low' ? args.urgency : undefined;
  if (args.urgency !== undefined && urgency === undefined) problems.push(`urgency: expected high or low, found ${JSON.stringify(args.urgency)}`);
  if (problems.length > 0) throw invalidInput(problems, ctx);
  // `title` and `details` are text: they may legitimately contain braces, so they are not checked for templates.
  return {
    service: args.service, escalationPolicy: args.escalation_policy, incident: args.incident,
    escalationLevel: typeof args.escalation_level === 'number' ? args.escalation_level : undefined,
    title: args.title ?? '', urgency, details: args.details,
  };
}

function invalidInput(problems: readonly string[], ctx: ExecutorContext): ExecutorError {
  return new ExecutorError('executor_input_invalid', ctx.redact(`page: invalid arguments: ${problems.join('; ')}`), { retryable: false });
}

/** `page service model-serving (high): "Model x is down"`; lenient about markers for values known only at run time. */
function planPage(input: unknown): string[] {
  const args = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  if (args['incident'] !== undefined) {
    const moves = [
      args['escalation_policy'] === undefined ? '' : `hand it to escalation policy ${describeValueForPlan(args['escalation_policy'])}`,
      args['escalation_level'] === undefined ? '' : `raise it to escalation level ${describeValueForPlan(args['escalation_level'])}`,
    ].filter(Boolean).join(', then ');
    return [`escalate PagerDuty incident ${describeValueForPlan(args['incident'])}: ${moves}`, 'absolute values: a retry sets the same level again, never one more'];
  }
  const targets = [
    args['service'] === undefined ? '' : `service ${describeValueForPlan(args['service'])}`,
    args['escalation_policy'] === undefined ? '' : `escalation policy ${describeValueForPlan(args['escalation_policy'])}`,
  ].filter(Boolean).join(' via ');
  const urgency = args['urgency'] === undefined ? "the service's default urgency" : describeValueForPlan(args['urgency']);
  const lines = [`page ${targets || 'the default service'} (${urgency}): ${JSON.stringify(describeValueForPlan(args['title'] ?? ''))}`];
  if (args['details'] !== undefined) lines.push(`details: ${headOf(describeValueForPlan(args['details']), 200).text}`);
  lines.push('deduplicated by an incident_key derived from the run and step: a retry adopts the open incident');
  return lines;
}

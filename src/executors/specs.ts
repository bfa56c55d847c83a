/**
 * The argument contract of every executor (DESIGN.md §3): one `ExecutorSpec` each, gathered in
 * `executorCatalog`, which the compiler receives as a parameter. Schemas see the arguments before
 * templates are resolved, so every non-string field also takes a `{{ … }}` string; they never
 * transform a value (output = input + defaults), so parsed arguments stay plain JSON and the same
 * schema can check them again once templates are resolved.
 */
import { z } from 'zod';
import { DURATION_EXPECTATION, MAX_DURATION_MS, formatDuration, parseDuration } from '../machines/durations.ts';
import { RESERVED_STEP_KEYS, type ExecutorCatalog, type ExecutorSpec } from '../machines/executor-spec.ts';

/** True for a string that holds a template (`{{ params.model }}`), whose type is known only once resolved. */
export function isTemplate(value: unknown): boolean {
  return typeof value === 'string' && value.includes('{{');
}

/**
 * Accepts a template string or whatever `schema` accepts. Any other value is checked by `schema`
 * itself, so its issues (codes, nested paths, messages) come through unchanged.
 */
export function templated<T extends z.ZodType>(schema: T): z.ZodType<z.output<T> | string, z.input<T> | string> {
  const accept = z.unknown().transform((value, ctx): z.output<T> | string => {
    if (typeof value === 'string' && isTemplate(value)) return value;
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    forwardIssues(ctx.issues, result.error.issues, value);
    return z.NEVER;
  });
  // The pipe's inferred output is `Awaited<output<T>>`, which TypeScript cannot equate with
  // `output<T>` for a generic T; `schema` is only ever parsed synchronously.
  return accept as unknown as z.ZodType<z.output<T> | string, z.input<T> | string>;
}

/** Re-raises a nested parse's issues in the enclosing one; their paths are relative, so the parent prefixes them. */
function forwardIssues(into: z.core.$ZodRawIssue[], issues: readonly z.core.$ZodIssue[], input: unknown): void {
  for (const issue of issues) into.push({ ...issue, path: [...issue.path], input } as z.core.$ZodRawIssue);
}

/** Error option saying what was expected, and that the key is missing when it is. */
function expecting(what: string): { error: (issue: { readonly input?: unknown }) => string } {
  return { error: (issue) => (issue.input === undefined ? `is required: expected ${what}` : `expected ${what}`) };
}

/** A strict object whose unknown-key and not-a-mapping messages name the allowed keys. */
function argsObject<S extends z.core.$ZodLooseShape>(shape: S, what = 'a mapping of arguments'): z.ZodObject<S, z.core.$strict> {
  const allowed = Object.keys(shape).map((key) => `\`${key}\``).join(', ');
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown argument ${issue.keys.map((key) => `\`${key}\``).join(', ')}: expected one of ${allowed}`;
      return issue.code === 'invalid_type' ? `expected ${what} (${allowed})` : undefined;
    },
  });
}

/**
 * Lets an object-level rule run even when some field failed, so every problem is reported at once
 * (zod skips refinements after an aborting issue by default). Rules must then read fields defensively.
 */
const EVEN_WITH_OTHER_ISSUES = { when: (payload: { readonly value: unknown }) => typeof payload.value === 'object' && payload.value !== null };

const text = (what: string) => z.string(expecting(what)).min(1, expecting(what));

function integer(min: number, max: number, what: string) {
  const expected = expecting(`${what}: a whole number from ${min} to ${max}`);
  return templated(z.number(expected).int(expected).min(min, expected).max(max, expected));
}

function oneOf<const V extends readonly [string, ...string[]]>(values: V, what: string) {
  return templated(z.enum(values, expecting(`${what}: one of ${values.join(', ')}`)));
}

function list<T extends z.ZodType>(element: T, what: string) {
  return templated(z.array(element, expecting(`a list of ${what}`)).min(1, expecting(`a non-empty list of ${what}`)));
}

function stringMap(what: string) {
  return templated(z.record(z.string(), z.string(expecting('a string (quote numbers: "5")')), expecting(`a mapping of ${what}`)));
}

/** A duration (`30s`, `1h30m`) or a template; kept as written, the compiler turns it into milliseconds. */
export const durationArg = z.string(expecting(DURATION_EXPECTATION)).superRefine((value, ctx) => {
  if (isTemplate(value)) return;
  const ms = parseDuration(value);
  if (ms === undefined) ctx.addIssue({ code: 'custom', message: `expected ${DURATION_EXPECTATION}` });
  else if (ms > MAX_DURATION_MS) ctx.addIssue({ code: 'custom', message: `expected at most ${formatDuration(MAX_DURATION_MS)}` });
});

/** A Slack user group handle (`@ml-oncall-leads`) or user id (`U024BE7LH`), or a template. */
const SLACK_APPROVER = /^(?:@[a-z0-9][a-z0-9._-]*|[UW][A-Z0-9]{2,})$/;
const APPROVER_EXPECTATION = expecting('a Slack user group handle such as @ml-oncall-leads or a user id such as U024BE7LH');
const approver = z.string(APPROVER_EXPECTATION).refine((value) => isTemplate(value) || SLACK_APPROVER.test(value), APPROVER_EXPECTATION);

const ssmParameters = templated(
  z.record(
    z.string(),
    z.union([z.string(), z.array(z.string())], { error: 'expected a string or a list of strings' }),
    expecting('a mapping of document parameters such as { commands: ["modelctl current"] }'),
  ),
);

const ssmTargets = list(
  argsObject({ key: text('a target key such as tag:role'), values: list(z.string(), 'tag values') }, 'a target such as { key: "tag:role", values: [model-serving] }'),
  'targets such as [{ key: "tag:role", values: [model-serving] }]',
);

const RATE = /^(?:\d+|(?:100|[1-9]?\d)%)$/;

function rate(what: string, minimum: 0 | 1) {
  const expected = `${what}: a count such as 10 or a percentage such as 25%${minimum > 0 ? ', above 0' : ''}`;
  const isRate = (value: unknown): boolean =>
    typeof value === 'number'
      ? Number.isInteger(value) && value >= minimum
      : typeof value === 'string' && RATE.test(value) && Number.parseInt(value, 10) >= minimum;
  return templated(z.custom<number | string>(isRate, expecting(expected)));
}

const STATUS_CLASS = /^[1-5]xx$/;
const isStatus = (value: unknown): boolean =>
  typeof value === 'number' ? Number.isInteger(value) && value >= 100 && value <= 599 : typeof value === 'string' && STATUS_CLASS.test(value);
const httpStatus = templated(z.custom<number | string>(isStatus, expecting('a status such as 200 or a class such as 2xx')));

/** `http`: one request; read-only for GET and HEAD. */
export const httpArgs = argsObject({
  method: oneOf(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], 'an HTTP method').default('GET'),
  url: text('an absolute URL such as https://serving.internal/v1/models').refine(
    // URL.parse arrived in Node 22; engines allow Node 20.
    (value) => isTemplate(value) || (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)),
    { error: 'expected an absolute http(s) URL such as https://serving.internal/v1/models' },
  ),
  headers: stringMap('headers').optional(),
  query: templated(
    z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]), expecting('a mapping of query parameters to strings, numbers or booleans')),
  ).optional(),
  json: z.json(expecting('a JSON body')).optional(),
  expect: list(httpStatus, 'statuses such as [200, 404] or classes such as [2xx]').default(['2xx']),
  max_redirects: integer(0, 10, 'redirects to follow').optional(),
});

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);
/** An `http` call changes the world unless its method is GET or HEAD; a templated method counts as mutating. */
export function isMutatingHttpCall(args: Readonly<Record<string, unknown>>): boolean {
  const method = args['method'] ?? 'GET';
  return !(typeof method === 'string' && !isTemplate(method) && SAFE_METHODS.has(method.toUpperCase()));
}

/** `run`: a program and its arguments, never a shell string. */
export const runArgs = argsObject({
  argv: z.array(z.string(expecting('a string argument (quote numbers)')), {
    error: (issue) =>
      typeof issue.input === 'string'
        ? 'expected a list such as [kubectl, rollout, status, deploy/model]: a single string is not split and no shell runs it'
        : `${issue.input === undefined ? 'is required: ' : ''}expected a list of strings such as [kubectl, rollout, status, deploy/model]`,
  }).min(1, { error: 'expected a non-empty list: the program, then its arguments' }),
  env: stringMap('environment variables').optional(),
  cwd: text('a working directory').optional(),
});

/** `ssm`: an SSM Run Command on tagged targets or listed instances. */
export const ssmArgs = argsObject({
  document: text('an SSM document name such as AWS-RunShellScript'),
  targets: ssmTargets.optional(),
  instance_ids: list(
    z.string().refine((v) => isTemplate(v) || /^m?i-[0-9a-f]+$/.test(v), { error: 'expected an instance id such as i-0123456789abcdef0' }),
    'instance ids such as [i-0123456789abcdef0]',
  ).optional(),
  parameters: ssmParameters.optional(),
  env: stringMap('environment variables').optional(),
  max_concurrency: rate('how many instances at once', 1).optional(),
  max_errors: rate('how many failures to tolerate', 0).optional(),
  comment: z.string(expecting('a comment')).optional(),
}).superRefine((args, ctx) => {
  const given = [args.targets, args.instance_ids].filter((v) => v !== undefined).length;
  if (given !== 1) {
    ctx.addIssue({ code: 'custom', message: `expected exactly one of \`targets\` or \`instance_ids\`, found ${given === 0 ? 'neither' : 'both'}` });
  }
}, EVEN_WITH_OTHER_ISSUES);

/** `ssm-automation`: an SSM Automation document, optionally rate-controlled over targets. */
export const ssmAutomationArgs = argsObject({
  document: text('an Automation document name such as AWS-RestartEC2Instance'),
  parameters: ssmParameters.optional(),
  target_parameter: text('the document parameter that receives each target, such as InstanceId').optional(),
  targets: ssmTargets.optional(),
}).superRefine((args, ctx) => {
  if ((args.targets === undefined) !== (args.target_parameter === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'expected `targets` and `target_parameter` together, or neither' });
  }
}, EVEN_WITH_OTHER_ISSUES);

/** `wait`: a pause, driven by a delayed timer. */
export const waitArgs = argsObject({ for: durationArg });

const approvers = list(approver, 'approvers such as ["@ml-oncall-leads", U024BE7LH]');

const pageTarget = argsObject(
  { escalation_policy: text('a PagerDuty escalation policy id').optional(), service: text('a PagerDuty service').optional() },
  'a PagerDuty target such as { escalation_policy: PABC123 }',
).refine((p) => p.escalation_policy !== undefined || p.service !== undefined, { error: 'expected `escalation_policy` or `service`' });

const escalationRung = argsObject(
  { after: durationArg, notify: approvers.optional(), page: pageTarget.optional() },
  'a rung such as { after: 10m, notify: ["@ml-oncall-leads"] }',
).refine((rung) => rung.notify !== undefined || rung.page !== undefined, { error: 'expected `notify` or `page` on the rung' });

const escalationLadder = z
  .array(escalationRung, expecting('a list of rungs such as [{ after: 10m, notify: ["@ml-oncall-leads"] }]'))
  .refine(isAscending((rung: z.output<typeof escalationRung>) => (isTemplate(rung.after) ? undefined : parseDuration(rung.after))), {
    error: 'expected rungs in increasing order of `after`',
  });

/**
 * `approve`: an approval gate. Unset keys stay unset (no defaults here) so that the runbook's
 * `approval` front matter can fill them; `APPROVAL_DEFAULTS` applies after that merge.
 */
export const approveArgs = argsObject({
  message: z.string(expecting('a message for the approvers')).optional(),
  quorum: integer(1, 20, 'approvals needed').optional(),
  from: approvers.optional(),
  allow_self: templated(z.boolean(expecting('whether the requester may approve: true or false'))).optional(),
  expires: durationArg.optional(),
  on_expiry: oneOf(['reject', 'wait'], 'what happens on expiry').optional(),
  escalation: templated(escalationLadder).optional(),
});

/** What an approval gate is when neither the step nor the runbook says otherwise. */
export const APPROVAL_DEFAULTS = { quorum: 1, from: [], allow_self: false, on_expiry: 'reject', escalation: [] } as const;

/** `rollback`: serve a model's previous (or a named) version. */
export const rollbackArgs = argsObject({
  model: text('a model name'),
  to: text('a version string (quote numbers: "1.2") or `previous`').default('previous'),
  target: text('an entry of targets.yaml').optional(),
});

const percent = integer(1, 100, 'a traffic percentage');

/** `failover`: shift a service's traffic from one region to another, in steps. */
export const failoverArgs = argsObject({
  service: text('a service name'),
  from: text('a region such as us-east-1'),
  to: text('a region such as us-west-2'),
  shift: templated(
    z.array(percent, expecting('a list of percentages such as [10, 50, 100]'))
      .min(1, expecting('a non-empty list of percentages such as [10, 50, 100]'))
      .refine(isAscending((p) => (typeof p === 'number' ? p : undefined)), { error: 'expected strictly increasing percentages' })
      .refine((steps) => { const last = steps.at(-1); return isTemplate(last) || last === 100; }, { error: 'expected the last step to be 100' }),
  ).default([100]),
  target: text('an entry of targets.yaml').optional(),
}).superRefine((args, ctx) => {
  if (typeof args.from === 'string' && args.from === args.to && !isTemplate(args.from)) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'expected a region other than `from`' });
  }
}, EVEN_WITH_OTHER_ISSUES);

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?$/;

function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [year, month, day, hour] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4] ?? 0)];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour <= 23;
}

const DATE_EXPECTATION = expecting('a date such as 2024-05-01, or 2024-05-01T13 for an hour');
const date = z.string(DATE_EXPECTATION).refine((v) => isTemplate(v) || isCalendarDate(v), DATE_EXPECTATION);

/**
 * A nested call, `{ executor, ...that executor's arguments }`, checked with that executor's own
 * schema (the `call` of a `backfill`). Not templatable as a whole: lint must know the executor.
 */
export function callArg(specs: readonly ExecutorSpec[]) {
  const names = specs.map((spec) => `\`${spec.name}\``).join(', ');
  return z.unknown().transform((value, ctx): { readonly executor: string } & Record<string, unknown> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const expected = 'expected a call such as { executor: http, url: "https://…?day={{ partition }}" }';
      ctx.issues.push({ code: 'custom', input: value, path: [], message: value === undefined ? `is required: ${expected}` : expected });
      return z.NEVER;
    }
    const { executor, ...args } = value as Record<string, unknown>;
    const spec = specs.find((candidate) => candidate.name === executor);
    if (!spec) {
      ctx.issues.push({ code: 'custom', input: executor, path: ['executor'], message: `expected ${names}` });
      return z.NEVER;
    }
    const result = spec.args.safeParse(args);
    if (!result.success) {
      forwardIssues(ctx.issues, result.error.issues, args);
      return z.NEVER;
    }
    return { executor: spec.name, ...(result.data as Record<string, unknown>) };
  });
}

/** Builds a `check` for `refine` that each known key (undefined = unknown, skipped) exceeds the previous one. */
function isAscending<T>(keyOf: (item: T) => number | undefined): (items: readonly T[]) => boolean {
  return (items) => {
    const keys = items.map(keyOf).filter((k): k is number => k !== undefined);
    return keys.every((key, i) => i === 0 || key > (keys[i - 1] ?? -Infinity));
  };
}

function spec(name: string, kind: ExecutorSpec['kind'], mutating: ExecutorSpec['mutating'], summary: string, args: z.ZodType): ExecutorSpec {
  return { name, kind, mutating, summary, args };
}

const httpSpec = spec('http', 'call', isMutatingHttpCall, 'Make an HTTP request and check its status (read-only for GET and HEAD).', httpArgs);
const runSpec = spec('run', 'call', true, 'Run a program with an argument list, without a shell.', runArgs);
const ssmSpec = spec('ssm', 'call', true, 'Run an SSM command document on tagged targets or listed instances.', ssmArgs);

/** `backfill`: re-run a per-partition call over a date range, a few partitions at a time. */
export const backfillArgs = argsObject({
  dataset: text('a dataset name'),
  from: date,
  to: date,
  partition: oneOf(['day', 'hour'], 'the partition size').default('day'),
  parallelism: integer(1, 64, 'partitions at once').default(4),
  call: callArg([httpSpec, ssmSpec, runSpec]),
}).superRefine((args, ctx) => {
  // Fields may have failed on their own (this check runs anyway), so only well-formed dates count.
  const [from, to] = [args.from, args.to].map((d) => (typeof d === 'string' && isCalendarDate(d) ? d : undefined));
  if (args.partition === 'day' && [from, to].some((d) => d?.includes('T'))) {
    ctx.addIssue({ code: 'custom', path: ['partition'], message: 'expected `partition: hour` for dates with an hour (2024-05-01T13)' });
  }
  const startOf = (d: string): string => (d.includes('T') ? d : `${d}T00`);
  if (from !== undefined && to !== undefined && startOf(from) > startOf(to)) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'expected `to` on or after `from`' });
  }
}, EVEN_WITH_OTHER_ISSUES);

/**
 * `page`: open a PagerDuty incident on a service (or escalation policy), or, with `incident`,
 * escalate an existing one: raise it to `escalation_level` and/or hand it to `escalation_policy`.
 */
export const pageArgs = argsObject({
  service: text('a PagerDuty service name or id').optional(),
  escalation_policy: text('a PagerDuty escalation policy id').optional(),
  incident: text('the PagerDuty incident id to escalate, e.g. "{{ incident.pagerduty_id }}"').optional(),
  escalation_level: templated(z.number().int().min(1).max(20, 'expected an escalation level from 1 to 20')).optional(),
  title: text('an incident title').optional(),
  urgency: oneOf(['high', 'low'], 'the urgency').optional(),
  details: templated(
    z.union([z.string(), z.record(z.string(), z.json())], expecting('incident details: text, or a mapping of fields such as { model: "{{ params.model }}" }')),
  ).optional(),
}).superRefine((args, ctx) => {
  if (args.incident !== undefined) {
    if (args.escalation_level === undefined && args.escalation_policy === undefined) {
      ctx.addIssue({ code: 'custom', message: 'escalating `incident` expects `escalation_level`, `escalation_policy`, or both' });
    }
    if (args.service !== undefined) ctx.addIssue({ code: 'custom', path: ['service'], message: 'expected no `service` when escalating an existing `incident`' });
    return;
  }
  if (args.escalation_level !== undefined) ctx.addIssue({ code: 'custom', path: ['escalation_level'], message: 'expected `escalation_level` only with `incident` (the incident to escalate)' });
  if (args.service === undefined && args.escalation_policy === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected `service` or `escalation_policy` (or both), or `incident` to escalate' });
  }
  if (args.title === undefined) ctx.addIssue({ code: 'custom', path: ['title'], message: 'expected a `title` for the new incident' });
}, EVEN_WITH_OTHER_ISSUES);

/** `notify`: post a message to a Slack channel; without `channel`, to the run's own thread. */
export const notifyArgs = argsObject({
  channel: text('a Slack channel such as #ml-oncall or C024BE91L').optional(),
  text: text('the message text'),
});

/** The executors of DESIGN.md §3, in the order of its table. */
export const BUILTIN_EXECUTOR_SPECS: readonly ExecutorSpec[] = [
  httpSpec,
  runSpec,
  ssmSpec,
  spec('ssm-automation', 'call', true, 'Start an SSM Automation document, optionally over targets.', ssmAutomationArgs),
  spec('wait', 'wait', false, 'Pause the run for a duration (a durable timer, not a sleeping worker).', waitArgs),
  spec('approve', 'approval', false, 'Wait for approvals from the named groups or people.', approveArgs),
  spec('rollback', 'call', true, "Roll a model's serving back to the previous or a named version.", rollbackArgs),
  spec('failover', 'call', true, "Shift a service's traffic from one region to another in steps.", failoverArgs),
  spec('backfill', 'call', true, 'Run an http, ssm or run call for every partition of a date range.', backfillArgs),
  spec('page', 'call', false, 'Page a PagerDuty service or escalation policy, or escalate an existing incident.', pageArgs),
  spec('notify', 'call', false, 'Post a message to Slack.', notifyArgs),
];

/** Thrown when a catalog would be ambiguous or would shadow reserved step keys; a programming error. */
export class ExecutorCatalogError extends Error {
  readonly code = 'executor_catalog_invalid';
  readonly retryable = false;
  override readonly name = 'ExecutorCatalogError';
}

/**
 * The built-in specs plus `extra` (test or dev executors). Names must be unique, and no argument
 * may be named like a reserved step key, since the compiler strips those before validating.
 */
export function createExecutorCatalog(extra: readonly ExecutorSpec[] = []): ExecutorCatalog {
  const catalog = new Map<string, ExecutorSpec>();
  for (const candidate of [...BUILTIN_EXECUTOR_SPECS, ...extra]) {
    if (catalog.has(candidate.name)) throw new ExecutorCatalogError(`executor \`${candidate.name}\` is defined twice`);
    const clash = argumentNamesOf(candidate).filter((key) => (RESERVED_STEP_KEYS as readonly string[]).includes(key));
    if (clash.length > 0) {
      throw new ExecutorCatalogError(`executor \`${candidate.name}\` has arguments named like reserved step keys: ${clash.join(', ')}`);
    }
    catalog.set(candidate.name, candidate);
  }
  return catalog;
}

/** The catalog of the built-in executors, for the compiler, `runbook lint` and `runbook help`. */
export const executorCatalog: ExecutorCatalog = createExecutorCatalog();

/** The argument names a spec accepts (its object schema's keys); empty when its schema is not an object. */
export function argumentNamesOf(executor: ExecutorSpec): string[] {
  return executor.args instanceof z.ZodObject ? Object.keys(executor.args.shape) : [];
}

/** The argument names of an executor in `catalog`, for "expected one of …" messages; empty when unknown. */
export function describeArguments(name: string, catalog: ExecutorCatalog = executorCatalog): string[] {
  const executor = catalog.get(name);
  return executor ? argumentNamesOf(executor) : [];
}

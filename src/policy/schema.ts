/**
 * The schema of `policy.yaml`: roles, run rules, approval requirements, auto-start, change-freeze
 * windows, blast-radius limits, the HTTP host allowlist and SLA defaults. Cross-field checks
 * (unknown roles, time zones, empty windows) are the named rules of `rules.ts`.
 */
import { z } from 'zod';
import { escalationRungSchema } from '../machines/front-matter.ts';

const NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const nameSchema = z.string().regex(NAME, { error: 'expected a lowercase name such as `prod-needs-oncall`' });

/** Role members: Slack user ids, `@usergroup` handles, `cli:<user>` for people at a terminal. */
export const MEMBER_PATTERN = /^(?:@[a-z0-9][a-z0-9._-]*|[UW][A-Z0-9]{2,}|cli:[A-Za-z0-9._-]+)$/;
const memberSchema = z.string().regex(MEMBER_PATTERN, {
  error: 'expected a Slack user id (`U024BE7LH`), a user group handle (`@sre-leads`) or a local user (`cli:alice`)',
});

const listOf = <T extends z.ZodType>(item: T) => z.array(item).min(1);

/** Which runbooks a rule is about: every given selector must match; none given matches all. */
const selectorShape = {
  runbooks: listOf(z.string().min(1)).optional(),
  tags: listOf(z.string().min(1)).optional(),
  environments: listOf(z.string().min(1)).optional(),
};

const runRuleSchema = z.strictObject({
  name: nameSchema,
  ...selectorShape,
  /** Who the rule is about (role names); omitted: everyone. */
  roles: listOf(nameSchema).optional(),
  effect: z.enum(['allow', 'deny']),
});

export const RISKS = ['mutating', 'read-only', 'any'] as const;

const approvalRuleSchema = z.strictObject({
  name: nameSchema,
  ...selectorShape,
  risk: z.enum(RISKS).default('mutating'),
  quorum: z.number().int().min(1).max(20),
  /** Roles whose members may approve; omitted: anyone (but the requester, by default). */
  from: listOf(nameSchema).optional(),
  exclude_requester: z.boolean().optional(),
});

export const STEP_SCOPES = ['read-only', 'all'] as const;

const autoStartRuleSchema = z.strictObject({
  name: nameSchema,
  ...selectorShape,
  effect: z.enum(['allow', 'deny']).default('allow'),
  /** Steps that may run with no human: `read-only`, `all`, or a list of step ids. */
  steps: z.union([z.enum(STEP_SCOPES), listOf(z.string().min(1))]).default('read-only'),
});

const freezeWindowSchema = z
  .strictObject({
    name: nameSchema,
    timezone: z.string().min(1),
    environments: listOf(z.string().min(1)).optional(),
    from: z.string().optional(),
    to: z.string().optional(),
    weekly: z.strictObject({ from: z.string(), to: z.string() }).optional(),
  })
  .refine((w) => w.weekly === undefined || (w.from === undefined && w.to === undefined), {
    error: 'expected either `from` and `to` (dates) or `weekly: { from, to }`, not both',
  })
  .refine((w) => w.weekly !== undefined || (w.from !== undefined && w.to !== undefined), {
    error: 'expected `from` and `to` (dates such as "2026-12-24 00:00") or `weekly: { from: "fri 17:00", to: "mon 08:00" }`',
  });

/** `10` instances, or `"10%"` of the targets. */
const concurrencyLimitSchema = z.union([z.number().int().min(1), z.string().regex(/^\d{1,3}%$/, { error: 'expected a number such as 10 or a percentage such as "10%"' })]);

/** An allowlist entry: an exact host (`api.example.com`) or every subdomain of one (`*.ml.internal`). */
export const HOST_PATTERN = /^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

export const policySchema = z.strictObject({
  version: z.literal(1).default(1),
  roles: z.record(nameSchema, z.array(memberSchema)).default({}),
  run: z
    .strictObject({ default: z.enum(['allow', 'deny']).default('allow'), rules: z.array(runRuleSchema).default([]) })
    .default({ default: 'allow', rules: [] }),
  approval: z.strictObject({ rules: z.array(approvalRuleSchema).default([]) }).default({ rules: [] }),
  auto_start: z
    .strictObject({ default: z.enum(['allow', 'deny']).default('allow'), rules: z.array(autoStartRuleSchema).default([]) })
    .default({ default: 'allow', rules: [] }),
  freeze: z
    .strictObject({
      break_glass: z.strictObject({ quorum: z.number().int().min(2).max(20).default(2), from: listOf(nameSchema).optional() }).default({ quorum: 2 }),
      windows: z.array(freezeWindowSchema).default([]),
    })
    .default({ break_glass: { quorum: 2 }, windows: [] }),
  limits: z
    .strictObject({
      ssm_max_targets: z.number().int().min(1).optional(),
      ssm_max_concurrency: concurrencyLimitSchema.optional(),
      backfill_max_parallelism: z.number().int().min(1).optional(),
    })
    .default({}),
  http: z
    .strictObject({ allow: z.array(z.string().regex(HOST_PATTERN, { error: 'expected a host such as `api.example.com` or `*.ml.internal`' })).optional() })
    .default({}),
  sla: z
    .strictObject({
      approval: z.array(escalationRungSchema).optional(),
      manual: z.array(escalationRungSchema).optional(),
      incident_ack: z.array(escalationRungSchema).optional(),
    })
    .default({}),
});

export type PolicyDocument = z.output<typeof policySchema>;
export type RunRuleInput = z.output<typeof runRuleSchema>;
export type ApprovalRuleInput = z.output<typeof approvalRuleSchema>;
export type AutoStartRuleInput = z.output<typeof autoStartRuleSchema>;
export type FreezeWindowInput = z.output<typeof freezeWindowSchema>;

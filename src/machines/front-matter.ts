/**
 * The front matter's schema: params, the default approval gate, triggers, concurrency and the
 * rest of DESIGN.md §3. Unknown keys are warnings (other tools put their own keys there).
 */
import { z } from 'zod';
import { DURATION_EXPECTATION, parseDuration } from './durations.ts';

/** A duration written in the runbook, turned into milliseconds. */
export const durationSchema = z
  .string({ error: `expected ${DURATION_EXPECTATION}` })
  .refine((text) => parseDuration(text) !== undefined, { error: `expected ${DURATION_EXPECTATION}` })
  .transform((text) => parseDuration(text) ?? 0);

const SLACK_APPROVER = /^(?:@[a-z0-9][a-z0-9._-]*|[UW][A-Z0-9]{2,})$/;

/** `@group` handles and Slack user ids (`U024BE7LH`). */
export const approverSchema = z.string().regex(SLACK_APPROVER, {
  error: 'expected a Slack user group handle such as `@ml-oncall-leads` or a user id such as `U024BE7LH`',
});

export const escalationRungSchema = z.strictObject({
  after: durationSchema,
  notify: z.array(approverSchema).optional(),
  page: z
    .strictObject({ escalation_policy: z.string().optional(), service: z.string().optional() })
    .refine((p) => p.escalation_policy !== undefined || p.service !== undefined, {
      error: 'expected `escalation_policy` or `service`',
    })
    .optional(),
});

/** The approval gate, as the front matter's default and as an `approve` step's arguments. */
export const approvalGateSchema = z.strictObject({
  message: z.string().optional(),
  quorum: z.number().int().min(1).max(20).default(1),
  from: z.array(approverSchema).default([]),
  allow_self: z.boolean().default(false),
  expires: durationSchema.optional(),
  on_expiry: z.enum(['reject', 'wait']).default('reject'),
  escalation: z.array(escalationRungSchema).default([]),
});

/** `manual:` — the SLA of manual steps: a ladder while one waits, and when it is overdue. */
export const manualSlaSchema = z.strictObject({
  escalation: z.array(escalationRungSchema).default([]),
  expires: durationSchema.optional(),
});

export const PARAM_TYPES = ['string', 'number', 'boolean', 'enum', 'duration'] as const;

const paramScalar = z.union([z.string(), z.number(), z.boolean()]);

const paramObjectSchema = z.strictObject({
  type: z.enum(PARAM_TYPES).default('string'),
  required: z.boolean().optional(),
  default: paramScalar.optional(),
  pattern: z.string().optional(),
  values: z.array(z.string()).min(1).optional(),
  description: z.string().optional(),
  secret: z.boolean().default(false),
});

/** A param: `{ type: string, pattern: … }`, or just its type name as shorthand (`model: string`). */
export const paramSchema = z.union([z.enum(PARAM_TYPES).transform((type) => paramObjectSchema.parse({ type })), paramObjectSchema]);

const PARAM_NAME = /^[a-z_][a-z0-9_]*$/i;

export const pagerDutyTriggerSchema = z
  .strictObject({
    service: z.string().optional(),
    urgency: z.enum(['high', 'low']).optional(),
    title: z.string().optional(),
  })
  .refine((t) => t.service !== undefined || t.title !== undefined, { error: 'expected at least `service` or `title`' });

export const frontMatterSchema = z.looseObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, { error: 'expected a lowercase id such as `rollback-model`' }).optional(),
  title: z.string().optional(),
  summary: z.string().optional(),
  owner: z.string().optional(),
  tags: z.array(z.string()).default([]),
  params: z
    .record(z.string().regex(PARAM_NAME, { error: 'expected a param name of letters, digits and `_`' }), paramSchema)
    .default({}),
  approval: approvalGateSchema.optional(),
  manual: manualSlaSchema.optional(),
  triggers: z
    .strictObject({
      slack: z.string().optional(),
      pagerduty: z.array(pagerDutyTriggerSchema).default([]),
    })
    .default({ pagerduty: [] }),
  concurrency: z.string().optional(),
  environment: z.string().optional(),
  cost_center: z.string().optional(),
  on_cancel: z.enum(['stop', 'rollback']).default('stop'),
});

export type FrontMatter = z.output<typeof frontMatterSchema>;
export type ApprovalGateInput = z.output<typeof approvalGateSchema>;

/** Keys the front matter understands; others are reported as warnings and ignored. */
export const KNOWN_FRONT_MATTER_KEYS: readonly string[] = Object.keys(frontMatterSchema.shape);

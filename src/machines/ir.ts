/**
 * The validated runbook: what `validateRunbook` produces from a parsed document and
 * `compileRunbook` turns into a machine. Plain JSON data, so it can be stored with a run.
 * Template-bearing values stay as their source text; `template.ts` parses them when needed.
 */
import type { SourceLocation } from './diagnostics.ts';

export type ParamType = 'string' | 'number' | 'boolean' | 'enum' | 'duration';

export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  readonly required: boolean;
  readonly default?: string | number | boolean;
  /** A regular expression (source) the value must match, for string params. */
  readonly pattern?: string;
  /** Allowed values, for enum params. */
  readonly values?: readonly string[];
  readonly description?: string;
  /** Redacted in logs, audit records and messages. */
  readonly secret: boolean;
}

export interface EscalationRung {
  readonly afterMs: number;
  /** `@group` handles and user ids to mention in a reminder. */
  readonly notify?: readonly string[];
  /** Page a PagerDuty escalation policy or service. */
  readonly page?: { readonly escalationPolicy?: string; readonly service?: string };
}

export interface ApprovalGate {
  readonly message?: string;
  readonly quorum: number;
  /** `@group` handles and Slack user ids; empty means anyone but (by default) the requester. */
  readonly from: readonly string[];
  readonly allowSelf: boolean;
  readonly expiresMs?: number;
  readonly onExpiry: 'reject' | 'wait';
  readonly escalation: readonly EscalationRung[];
}

/** SLA of the runbook's manual steps (front matter `manual:`): a human step is never auto-skipped. */
export interface ManualSla {
  readonly escalation: readonly EscalationRung[];
  /** After this long the step is marked overdue and the ladder's people are reminded; it keeps waiting. */
  readonly expiresMs?: number;
}

export interface SlackTrigger {
  /** The usage line as written: `rollback <model> [version]`. */
  readonly usage: string;
  /** Its first word: what follows `/runbook`. */
  readonly command: string;
  readonly positional: readonly { readonly name: string; readonly optional: boolean }[];
}

export interface PagerDutyTrigger {
  /** Service name or id. */
  readonly service?: string;
  readonly urgency?: 'high' | 'low';
  /** Regex source matched against the incident title; named groups become params. */
  readonly title?: string;
}

/** A call to an executor with its (still templated) arguments. */
export interface StepCall {
  readonly executor: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly mutating: boolean;
}

export type OnFailure =
  | { readonly kind: 'abort' }
  | { readonly kind: 'continue' }
  | { readonly kind: 'rollback' }
  | { readonly kind: 'goto'; readonly stepId: string };

export interface Backoff {
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

export type StepKind = 'call' | 'wait' | 'approval' | 'manual';

export interface Step {
  readonly id: string;
  readonly title: string;
  readonly kind: StepKind;
  /** The step's Markdown instructions (everything under its heading but the executable block). */
  readonly instructions: string;
  readonly call?: StepCall;
  readonly undo?: StepCall;
  readonly mutating: boolean;
  readonly timeoutMs?: number;
  /** Extra attempts after the first failure. */
  readonly retries: number;
  readonly backoff: Backoff;
  readonly onFailure: OnFailure;
  /** Condition source (`steps.check.output.healthy == false`); the step is skipped when false. */
  readonly when?: string;
  readonly approval?: ApprovalGate;
  readonly waitMs?: number;
  readonly location: SourceLocation;
}

export interface Runbook {
  readonly id: string;
  readonly file: string;
  readonly title: string;
  readonly summary?: string;
  readonly owner?: string;
  readonly tags: readonly string[];
  readonly params: readonly ParamSpec[];
  readonly approval?: ApprovalGate;
  /** SLA ladder of manual steps, when the runbook sets one. */
  readonly manual?: ManualSla;
  readonly triggers: {
    readonly slack?: SlackTrigger;
    readonly pagerduty: readonly PagerDutyTrigger[];
  };
  /** Key template: one active run per rendered key. */
  readonly concurrency?: string;
  readonly environment?: string;
  readonly costCenter?: string;
  /** What cancelling a run does to completed steps: leave them, or run their `undo`. */
  readonly onCancel: 'stop' | 'rollback';
  readonly steps: readonly Step[];
}

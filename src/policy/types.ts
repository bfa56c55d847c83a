/**
 * The compiled policy: `policy.yaml` validated, defaults applied, every rule carrying where it is
 * written so each decision can name the rule that made it (`policy.yaml:12 prod-needs-oncall`).
 */
import type { EscalationRung } from '../machines/ir.ts';

/** A rule's name and where it is written, for decisions and audit records. */
export interface RuleRef {
  readonly name: string;
  readonly file: string;
  /** 1-based; 0 for the built-in defaults (no file). */
  readonly line: number;
}

/** Which runbooks a rule is about; an absent selector matches every runbook. */
export interface Selector {
  readonly runbooks?: readonly string[];
  readonly tags?: readonly string[];
  readonly environments?: readonly string[];
}

export interface RunRule extends Selector {
  readonly ref: RuleRef;
  /** Role names; absent: everyone. */
  readonly roles?: readonly string[];
  readonly effect: 'allow' | 'deny';
}

export type Risk = 'mutating' | 'read-only' | 'any';

export interface ApprovalRule extends Selector {
  readonly ref: RuleRef;
  readonly risk: Risk;
  readonly quorum: number;
  /** Role names whose members may approve; absent: anyone. */
  readonly from?: readonly string[];
  readonly excludeRequester: boolean;
}

export interface AutoStartRule extends Selector {
  readonly ref: RuleRef;
  readonly effect: 'allow' | 'deny';
  readonly steps: 'read-only' | 'all' | readonly string[];
}

/** A local wall-clock time range in an IANA time zone: absolute dates or a weekly recurrence. */
export type FreezeSchedule =
  | { readonly kind: 'absolute'; readonly from: string; readonly to: string }
  /** Minutes since Monday 00:00 local time; `to` ≤ `from` wraps over the week's end. */
  | { readonly kind: 'weekly'; readonly fromMinute: number; readonly toMinute: number; readonly text: string };

export interface FreezeWindow {
  readonly ref: RuleRef;
  readonly timezone: string;
  readonly environments?: readonly string[];
  readonly schedule: FreezeSchedule;
}

export interface Limit<T> {
  readonly value: T;
  readonly ref: RuleRef;
}

export interface Policy {
  /** The file it came from, or `built-in defaults`. */
  readonly file: string;
  readonly isBuiltIn: boolean;
  readonly roles: Readonly<Record<string, readonly string[]>>;
  readonly run: { readonly default: 'allow' | 'deny'; readonly defaultRef: RuleRef; readonly rules: readonly RunRule[] };
  readonly approval: readonly ApprovalRule[];
  readonly autoStart: { readonly default: 'allow' | 'deny'; readonly defaultRef: RuleRef; readonly rules: readonly AutoStartRule[] };
  readonly freeze: {
    readonly breakGlass: { readonly ref: RuleRef; readonly quorum: number; readonly from?: readonly string[] };
    readonly windows: readonly FreezeWindow[];
  };
  readonly limits: {
    readonly ssmMaxTargets?: Limit<number>;
    readonly ssmMaxConcurrency?: Limit<number | string>;
    readonly backfillMaxParallelism?: Limit<number>;
  };
  /** Host patterns; absent: every host allowed. */
  readonly httpAllow?: Limit<readonly string[]>;
  readonly sla: SlaDefaults;
}

/**
 * Escalation ladders used where a runbook names none: `approval` and `manual` are the engine's
 * run defaults (`RuntimeOptions.slaDefaults`), `incidentAck` the incidents' acknowledgement ladder.
 */
export interface SlaDefaults {
  readonly approval: readonly EscalationRung[];
  readonly manual: readonly EscalationRung[];
  readonly incidentAck: readonly EscalationRung[];
}

/** `policy.yaml:12 prod-needs-oncall`, or `built-in defaults: run.default`. */
export function formatRuleRef(ref: RuleRef): string {
  return ref.line > 0 ? `${ref.file}:${ref.line} ${ref.name}` : `${ref.file}: ${ref.name}`;
}

/**
 * What the compiler needs to know about an executor: its argument schema and whether it changes
 * the world. The catalog is handed to the compiler as a parameter, so `machines/` never imports
 * the executors themselves (DESIGN.md §4); `src/executors/specs.ts` builds the real one.
 */
import type { ZodType } from 'zod';

/**
 * How the compiled machine drives a step of this executor:
 * - `call`: a job on the `steps` queue (`step.run` effect), finished by `step.succeeded`/`step.failed`;
 * - `wait`: a delayed timer (`timer.schedule`), never a sleeping worker;
 * - `approval`: an approval gate (`approval.request`), finished by approvals or a rejection.
 */
export type ExecutorKind = 'call' | 'wait' | 'approval';

export interface ExecutorSpec {
  /** The fenced block's info string that selects it: `ssm`, `http`, `rollback`. */
  readonly name: string;
  /** One line for `runbook help` and docs. */
  readonly summary: string;
  readonly kind: ExecutorKind;
  /**
   * Schema of the arguments (the block's YAML minus the reserved step keys). It sees values before
   * templates are resolved, so typed fields accept a `{{ … }}` string as well.
   */
  readonly args: ZodType;
  /** Whether a call changes the world; a function when it depends on the arguments (`http` GET). */
  readonly mutating: boolean | ((args: Readonly<Record<string, unknown>>) => boolean);
}

export type ExecutorCatalog = ReadonlyMap<string, ExecutorSpec>;

/** Keys of an executable block that belong to the step, not to the executor. */
export const RESERVED_STEP_KEYS = [
  'timeout',
  'retries',
  'backoff',
  'on_failure',
  'when',
  'undo',
  'read_only',
] as const;

export type ReservedStepKey = (typeof RESERVED_STEP_KEYS)[number];

export function isReservedStepKey(key: string): key is ReservedStepKey {
  return (RESERVED_STEP_KEYS as readonly string[]).includes(key);
}

export function isMutatingCall(spec: ExecutorSpec, args: Readonly<Record<string, unknown>>): boolean {
  return typeof spec.mutating === 'function' ? spec.mutating(args) : spec.mutating;
}

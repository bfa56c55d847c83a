/**
 * Cost attribution: what an executor call consumed, read from what it returned. Only what the
 * output states is counted (SSM's `targetCount`, a backfill's partitions processed), never guessed.
 */

/** One amount of one unit. */
export interface CostUnits {
  readonly unit: string;
  readonly amount: number;
}

/**
 * `ssm` and `ssm-automation`: targets × seconds (`instance_seconds`); `backfill`: partitions this
 * call processed (`partitions`, those already done by an earlier attempt excluded). Others: none.
 */
export function costOf(executor: string, output: unknown, durationMs: number): CostUnits[] {
  if (typeof output !== 'object' || output === null) return [];
  const record = output as Record<string, unknown>;
  const count = (key: string) => (typeof record[key] === 'number' && Number.isFinite(record[key]) && record[key] >= 0 ? record[key] : undefined);
  if (executor === 'ssm' || executor === 'ssm-automation') {
    const targets = count('targetCount');
    return targets === undefined ? [] : [{ unit: 'instance_seconds', amount: targets * (durationMs / 1_000) }];
  }
  if (executor === 'backfill') {
    const done = count('done');
    if (done === undefined) return [];
    return [{ unit: 'partitions', amount: Math.max(0, done - (count('skipped_already_done') ?? 0)) }];
  }
  return [];
}

/**
 * The run store in Redis: one hash per run (runbook source pinned, params, snapshot, version)
 * and its outbox. A transition is committed with one Lua script that checks the version and
 * writes the snapshot and the outbox entry together, so a crash can never leave one without the
 * other; draining the outbox later is idempotent.
 */
import type { Redis } from 'ioredis';
import type { PersistedRun } from '../machines/run-machine.ts';
import type { Effect, FinalStatus, Person } from '../machines/run-types.ts';
import type { AuditRecordInput } from '../audit/index.ts';
import { EngineError } from './errors.ts';
import type { EngineKeys } from './keys.ts';
import { CREATE_WITH_OUTBOX, Outbox } from './outbox.ts';

export type RunStatus = 'active' | FinalStatus;

export interface RunRecord {
  readonly id: string;
  readonly runbookId: string;
  readonly runbookFile: string;
  /** The runbook text as it was when the run started: editing the file never changes a run. */
  readonly source: string;
  readonly sourceHash: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly requester: Person;
  readonly incidentId?: string;
  readonly status: RunStatus;
  readonly snapshot: PersistedRun;
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly concurrencyKey?: string;
  /** Where the run was requested (a Slack channel, PagerDuty, the CLI): replies and the run message go there. */
  readonly origin?: RunOrigin;
  /** W3C trace context of the run's span (set when tracing is on): step spans join its trace. */
  readonly traceparent?: string;
}

export type RunOrigin =
  | { readonly kind: 'slack'; readonly channel: string; readonly teamId?: string; readonly responseUrl?: string }
  | { readonly kind: 'pagerduty'; readonly incidentId: string }
  | { readonly kind: 'cli' };

/** What one transition leaves to do: audit first, then the effects. */
export interface OutboxEntry {
  readonly version: number;
  readonly records: readonly AuditRecordInput[];
  readonly effects: readonly Effect[];
}


const COMMIT = `
-- KEYS: run, outbox, pending, concurrency lock (or '')
-- ARGV: expected version, snapshot, status, updatedAt, outbox entry, runId
local version = tonumber(redis.call('HGET', KEYS[1], 'version'))
if version == nil then return -2 end
if version ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'version', version + 1, 'snapshot', ARGV[2], 'status', ARGV[3], 'updatedAt', ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[6])
if ARGV[3] ~= 'active' and KEYS[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[6] then
  redis.call('DEL', KEYS[4])
end
return version + 1
`;


export interface NewRun extends Omit<RunRecord, 'version' | 'updatedAt' | 'status'> {
  readonly status: RunStatus;
}

export class RunStore {
  /** Each run's undrained transitions (audit records + effects). */
  readonly outbox: Outbox<OutboxEntry>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
  ) {
    this.outbox = new Outbox(redis, { outbox: keys.outbox, pending: keys.pendingOutboxes, lock: keys.drainLock });
  }

  /** Creates a run with its first outbox entry; refuses when its concurrency key is held. */
  async create(run: NewRun, outbox: OutboxEntry): Promise<void> {
    const lock = run.concurrencyKey ? this.keys.concurrency(run.concurrencyKey) : '';
    const fields = serializeRun({ ...run, version: 1, updatedAt: run.createdAt });
    const result = (await this.redis.eval(
      CREATE_WITH_OUTBOX, 5, this.keys.run(run.id), this.keys.runs, lock, this.keys.outbox(run.id), this.keys.pendingOutboxes,
      run.id, String(run.createdAt), JSON.stringify(outbox), ...fields,
    )) as [number, string];
    if (result[0] === 0) {
      throw new EngineError('run_concurrency_conflict', `run ${result[1]} is already active for \`${run.concurrencyKey}\`; wait for it to finish or cancel it first`, {
        details: { activeRunId: result[1], concurrencyKey: run.concurrencyKey },
      });
    }
    if (result[0] === -1) throw new EngineError('run_exists', `run ${run.id} already exists`);
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.run(runId));
    return hash['id'] ? deserializeRun(hash) : undefined;
  }

  /** Commits a transition if the run is still at `expectedVersion`; false on a conflict. */
  async commit(run: RunRecord, snapshot: PersistedRun, status: RunStatus, outbox: OutboxEntry, now: number): Promise<boolean> {
    const lock = run.concurrencyKey ? this.keys.concurrency(run.concurrencyKey) : '';
    const result = (await this.redis.eval(
      COMMIT, 4, this.keys.run(run.id), this.keys.outbox(run.id), this.keys.pendingOutboxes, lock,
      String(run.version), JSON.stringify(snapshot), status, String(now), JSON.stringify(outbox), run.id,
    )) as number;
    if (result === -2) throw new EngineError('run_not_found', `run ${run.id} does not exist`);
    return result > 0;
  }

  /** Runs whose outbox was written before `before` and is not drained yet. */
  pendingOutboxes(before: number, limit = 500): Promise<string[]> {
    return this.outbox.pending(before, limit);
  }

  /** Records a call's progress report (kept a day after the last report). */
  async setProgress(runId: string, stepId: string, progress: unknown): Promise<void> {
    const key = this.keys.progress(runId);
    await this.redis.multi().hset(key, stepId, JSON.stringify(progress)).pexpire(key, 86_400_000).exec();
  }

  /** The latest progress report of each step that sent one. */
  async progress(runId: string): Promise<Record<string, unknown>> {
    const hash = await this.redis.hgetall(this.keys.progress(runId));
    return Object.fromEntries(Object.entries(hash).map(([stepId, text]) => [stepId, JSON.parse(text) as unknown]));
  }

  /** Most recent runs first. */
  async list(limit = 50): Promise<RunRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.runs, 0, limit - 1);
    const runs = await Promise.all(ids.map((id) => this.get(id)));
    return runs.filter((r): r is RunRecord => r !== undefined);
  }

}

function serializeRun(run: RunRecord): string[] {
  const fields: Record<string, string> = {
    id: run.id,
    runbookId: run.runbookId,
    runbookFile: run.runbookFile,
    source: run.source,
    sourceHash: run.sourceHash,
    params: JSON.stringify(run.params),
    requester: JSON.stringify(run.requester),
    status: run.status,
    snapshot: JSON.stringify(run.snapshot),
    version: String(run.version),
    createdAt: String(run.createdAt),
    updatedAt: String(run.updatedAt),
  };
  if (run.incidentId) fields['incidentId'] = run.incidentId;
  if (run.concurrencyKey) fields['concurrencyKey'] = run.concurrencyKey;
  if (run.origin) fields['origin'] = JSON.stringify(run.origin);
  if (run.traceparent) fields['traceparent'] = run.traceparent;
  return Object.entries(fields).flat();
}

function deserializeRun(hash: Record<string, string>): RunRecord {
  const field = (name: string) => hash[name] ?? '';
  return {
    id: field('id'),
    runbookId: field('runbookId'),
    runbookFile: field('runbookFile'),
    source: field('source'),
    sourceHash: field('sourceHash'),
    params: JSON.parse(field('params') || '{}') as Record<string, unknown>,
    requester: JSON.parse(field('requester') || '{"id":"unknown"}') as Person,
    status: field('status') as RunStatus,
    snapshot: JSON.parse(field('snapshot')) as PersistedRun,
    version: Number(field('version')),
    createdAt: Number(field('createdAt')),
    updatedAt: Number(field('updatedAt')),
    ...(hash['incidentId'] ? { incidentId: hash['incidentId'] } : {}),
    ...(hash['concurrencyKey'] ? { concurrencyKey: hash['concurrencyKey'] } : {}),
    ...(hash['origin'] ? { origin: JSON.parse(hash['origin']) as RunOrigin } : {}),
    ...(hash['traceparent'] ? { traceparent: hash['traceparent'] } : {}),
  };
}

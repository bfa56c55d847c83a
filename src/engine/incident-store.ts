/**
 * The incident store in Redis, with the run store's durability: one hash per incident (snapshot,
 * version), an outbox written by the same Lua script as the snapshot, and the indexes the bot and
 * the webhook look incidents up by (PagerDuty id, Slack channel, creation time).
 */
import type { Redis } from 'ioredis';
import type { AuditRecordInput } from '../audit/index.ts';
import { incidentStatusOf, type PersistedIncident } from '../machines/incident-machine.ts';
import type { IncidentEffect } from '../machines/incident-types.ts';
import { EngineError } from './errors.ts';
import type { IncidentRecord } from './incident-port.ts';
import type { EngineKeys } from './keys.ts';
import { CREATE_WITH_OUTBOX, Outbox } from './outbox.ts';

/** What one incident transition leaves to do: audit first, then the effects. */
export interface IncidentOutboxEntry {
  readonly version: number;
  readonly records: readonly AuditRecordInput[];
  readonly effects: readonly IncidentEffect[];
}


const COMMIT = `
-- KEYS: incident, outbox, pending, channel index (or ''), PagerDuty index (or '')
-- ARGV: expected version, snapshot, status, updatedAt, outbox entry, incidentId
local version = tonumber(redis.call('HGET', KEYS[1], 'version'))
if version == nil then return -2 end
if version ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'version', version + 1, 'snapshot', ARGV[2], 'status', ARGV[3], 'updatedAt', ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[6])
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[6]) end
if KEYS[5] ~= '' then redis.call('SET', KEYS[5], ARGV[6], 'NX') end
return version + 1
`;



/** Indexes a committed transition sets alongside the snapshot. */
export interface CommitIndexes {
  readonly channelId?: string;
  readonly pagerDutyIncidentId?: string;
}

export class IncidentStore {
  /** Each incident's undrained transitions (audit records + effects). */
  readonly outbox: Outbox<IncidentOutboxEntry>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
  ) {
    this.outbox = new Outbox(redis, { outbox: keys.incidentOutbox, pending: keys.pendingIncidentOutboxes, lock: keys.incidentDrainLock });
  }

  /** The next `INC-<n>`. */
  async nextId(): Promise<string> {
    return `INC-${await this.redis.incr(this.keys.incidentCounter)}`;
  }

  /**
   * Creates an incident with its first outbox entry. With a PagerDuty id, only the first incident
   * for it is created: a later call resolves to `{ created: false, existingId }`.
   */
  async create(snapshot: PersistedIncident, createdAt: number, outbox: IncidentOutboxEntry): Promise<{ created: true } | { created: false; existingId: string }> {
    const id = snapshot.context.id;
    const pd = snapshot.context.pagerDuty ? this.keys.incidentByPagerDuty(snapshot.context.pagerDuty.incidentId) : '';
    const fields = { id, snapshot: JSON.stringify(snapshot), status: incidentStatusOf(snapshot), version: '1', createdAt: String(createdAt), updatedAt: String(createdAt) };
    const result = (await this.redis.eval(
      CREATE_WITH_OUTBOX, 5, this.keys.incident(id), this.keys.incidents, pd, this.keys.incidentOutbox(id), this.keys.pendingIncidentOutboxes,
      id, String(createdAt), JSON.stringify(outbox), ...Object.entries(fields).flat(),
    )) as [number, string];
    if (result[0] === 0) return { created: false, existingId: result[1] };
    if (result[0] === -1) throw new EngineError('incident_exists', `incident ${id} already exists; the incident counter ${this.keys.incidentCounter} is behind the stored incidents`);
    return { created: true };
  }

  async get(incidentId: string): Promise<IncidentRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.incident(incidentId));
    return hash['id'] ? deserialize(hash) : undefined;
  }

  /** The stored snapshot alongside the record (what the next transition starts from). */
  async load(incidentId: string): Promise<{ record: IncidentRecord; snapshot: PersistedIncident } | undefined> {
    const hash = await this.redis.hgetall(this.keys.incident(incidentId));
    if (!hash['id']) return undefined;
    return { record: deserialize(hash), snapshot: JSON.parse(hash['snapshot'] ?? '{}') as PersistedIncident };
  }

  /** Commits a transition if the incident is still at `expectedVersion`; false on a conflict. */
  async commit(incidentId: string, expectedVersion: number, snapshot: PersistedIncident, outbox: IncidentOutboxEntry, now: number, indexes: CommitIndexes = {}): Promise<boolean> {
    const result = (await this.redis.eval(
      COMMIT, 5, this.keys.incident(incidentId), this.keys.incidentOutbox(incidentId), this.keys.pendingIncidentOutboxes,
      indexes.channelId ? this.keys.incidentByChannel(indexes.channelId) : '',
      indexes.pagerDutyIncidentId ? this.keys.incidentByPagerDuty(indexes.pagerDutyIncidentId) : '',
      String(expectedVersion), JSON.stringify(snapshot), incidentStatusOf(snapshot), String(now), JSON.stringify(outbox), incidentId,
    )) as number;
    if (result === -2) throw new EngineError('incident_not_found', `no incident ${incidentId}`);
    return result > 0;
  }

  async findIdByPagerDutyId(pagerDutyIncidentId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.incidentByPagerDuty(pagerDutyIncidentId))) ?? undefined;
  }

  async findIdByChannel(channelId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.incidentByChannel(channelId))) ?? undefined;
  }

  /** Newest first. */
  async list(limit = 50): Promise<IncidentRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.incidents, 0, Math.max(0, limit - 1));
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is IncidentRecord => r !== undefined);
  }

  /** Incidents whose outbox was written before `before` and is not drained. */
  pendingOutboxes(before: number, limit = 500): Promise<string[]> {
    return this.outbox.pending(before, limit);
  }
}

function deserialize(hash: Record<string, string>): IncidentRecord {
  const snapshot = JSON.parse(hash['snapshot'] ?? '{}') as PersistedIncident;
  return {
    id: hash['id'] ?? '',
    status: incidentStatusOf(snapshot),
    context: snapshot.context,
    version: Number(hash['version']),
    createdAt: Number(hash['createdAt']),
    updatedAt: Number(hash['updatedAt']),
  };
}

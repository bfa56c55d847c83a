/**
 * Redis key layout of the engine. Every key starts with the configured prefix (tests use a fresh
 * one each); wrap the prefix in braces (`{rb}`) on Redis Cluster so a run's keys share one slot.
 */
export interface EngineKeys {
  readonly prefix: string;
  run(runId: string): string;
  outbox(runId: string): string;
  drainLock(runId: string): string;
  concurrency(key: string): string;
  /** Hash: step id → latest progress report of its call in flight. */
  progress(runId: string): string;
  /** Sorted set of all runs by creation time. */
  readonly runs: string;
  /** Sorted set of runs whose outbox is not drained, by when it was written. */
  readonly pendingOutboxes: string;
  /** Pub/sub channel: abort a step call in flight. */
  readonly abortChannel: string;
  /** Pub/sub channel: a run changed (for live progress). */
  readonly updatesChannel: string;
  /** BullMQ's own prefix for the engine's queues. */
  readonly queuePrefix: string;
  /** Incidents (issue 6): hash, outbox and drain lock per incident, like runs. */
  incident(incidentId: string): string;
  incidentOutbox(incidentId: string): string;
  incidentDrainLock(incidentId: string): string;
  /** String: the incident id that mirrors this PagerDuty incident (SET NX: one incident per PagerDuty id). */
  incidentByPagerDuty(pagerDutyIncidentId: string): string;
  /** String: the incident whose Slack channel this is. */
  incidentByChannel(channelId: string): string;
  /** Counter behind `INC-<n>`. */
  readonly incidentCounter: string;
  /** Sorted set of all incidents by creation time. */
  readonly incidents: string;
  /** Sorted set of incidents whose outbox is not drained, by when it was written. */
  readonly pendingIncidentOutboxes: string;
}

export function engineKeys(prefix: string): EngineKeys {
  return {
    prefix,
    run: (runId) => `${prefix}:run:${runId}`,
    outbox: (runId) => `${prefix}:outbox:${runId}`,
    drainLock: (runId) => `${prefix}:drain:${runId}`,
    concurrency: (key) => `${prefix}:concurrency:${key}`,
    progress: (runId) => `${prefix}:progress:${runId}`,
    runs: `${prefix}:runs`,
    pendingOutboxes: `${prefix}:outbox-pending`,
    abortChannel: `${prefix}:abort`,
    updatesChannel: `${prefix}:updates`,
    queuePrefix: `${prefix}:bull`,
    incident: (id) => `${prefix}:incident:${id}`,
    incidentOutbox: (id) => `${prefix}:incident-outbox:${id}`,
    incidentDrainLock: (id) => `${prefix}:incident-drain:${id}`,
    incidentByPagerDuty: (pdId) => `${prefix}:incident-by-pd:${pdId}`,
    incidentByChannel: (channelId) => `${prefix}:incident-by-channel:${channelId}`,
    incidentCounter: `${prefix}:incident-counter`,
    incidents: `${prefix}:incidents`,
    pendingIncidentOutboxes: `${prefix}:incident-outbox-pending`,
  };
}

/** BullMQ job ids may not contain `:` and may not be all digits: ids here are `run-step-phase-attempt`. */
export function jobId(...parts: readonly (string | number)[]): string {
  return parts.map((p) => String(p).replace(/:/g, '_')).join('-');
}

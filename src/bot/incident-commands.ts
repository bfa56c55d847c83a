/**
 * `/runbook incident …` once Bolt has acked it: declare an incident (the declarer is its first
 * responder), or acknowledge, mark mitigating, resolve or show the incident whose channel the
 * command was typed in. Each move is one `incidents.send` with `source: 'slack'`; the incident
 * machine then asks for the PagerDuty sync, the channel post and the summary update as effects.
 */
import { isEngineError } from '../engine/errors.ts';
import type { IncidentRecord, Incidents } from '../engine/incident-port.ts';
import type { IncidentEvent } from '../machines/incident-types.ts';
import type { IncidentCommand } from './grammar.ts';
import type { BotEngine, BotMessage } from './ports.ts';
import { paragraphs } from './views/blocks.ts';
import { renderIncidentSummary } from './views/incident-summary.ts';
import {
  declaredReply, incidentNotFoundReply, incidentsDisabledReply, moveReply, notInIncidentChannelReply,
} from './views/incident-replies.ts';

/** Who typed the command, and where. */
export interface IncidentCommandInput {
  readonly userId: string;
  readonly userName: string;
  readonly channelId: string;
}

/** Options of {@link createIncidentCommands}; durations in milliseconds. */
export interface IncidentCommandsOptions {
  readonly incidents: Incidents | undefined;
  /** For the states of an incident's runs in `status`. */
  readonly engine: Pick<BotEngine, 'getRun'>;
  /** True the first time a delivery is seen (a Slack retry declares or moves nothing twice). */
  readonly isFirst: () => Promise<boolean>;
  /** How long `declare` waits for the channel before replying that it is being created. @default 4000 */
  readonly channelWaitMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

const EVENT_OF = { ack: 'incident.acknowledge', mitigate: 'incident.mitigate', resolve: 'incident.resolve' } as const;

/** Runs one incident command; the returned message is the ephemeral reply (undefined: a repeated delivery, say nothing). */
export async function runIncidentCommand(command: IncidentCommand, input: IncidentCommandInput, options: IncidentCommandsOptions): Promise<BotMessage | undefined> {
  const { incidents } = options;
  if (!incidents) return incidentsDisabledReply();
  const by = { id: input.userId, name: input.userName };
  const clock = options.clock ?? Date.now;
  switch (command.action) {
    case 'declare': {
      if (!(await options.isFirst())) return undefined;
      try {
        const { incident, created } = await incidents.declare({
          title: command.title, ...(command.severity ? { severity: command.severity } : {}), source: 'slack', declaredBy: by, responders: [input.userId],
        });
        return declaredReply(await waitForChannel(incidents, incident, options.channelWaitMs ?? 4_000), created);
      } catch (error) {
        if (isEngineError(error, 'incident_invalid')) return paragraphs(`⚠️ ${error.message}. Nothing was declared.`);
        throw error;
      }
    }
    case 'status': {
      const incident = command.incidentId ? await incidents.get(command.incidentId.toUpperCase()) : await incidents.findByChannel(input.channelId);
      if (!incident) return command.incidentId ? incidentNotFoundReply(command.incidentId) : notInIncidentChannelReply('/runbook incident status', await incidents.list(20));
      const runs = await Promise.all(incident.context.runs.slice(-10).map(async (id) => {
        const run = await options.engine.getRun(id).catch(() => undefined);
        return run ? { id, runbookId: run.runbookId, status: run.status } : { id, runbookId: '?', status: 'unknown' };
      }));
      return renderIncidentSummary(incident, { now: clock(), runs });
    }
    case 'ack':
    case 'mitigate':
    case 'resolve': {
      const incident = await incidents.findByChannel(input.channelId);
      if (!incident) return notInIncidentChannelReply(`/runbook incident ${command.action}`, await incidents.list(20));
      if (!(await options.isFirst())) return undefined;
      const text = command.action === 'ack' ? undefined : command.text;
      const event: IncidentEvent = command.action === 'resolve'
        ? { type: EVENT_OF.resolve, by, source: 'slack', ...(text ? { resolution: text } : {}) }
        : command.action === 'mitigate'
          ? { type: EVENT_OF.mitigate, by, source: 'slack', ...(text ? { reason: text } : {}) }
          : { type: EVENT_OF.ack, by, source: 'slack' };
      return moveReply(command.action, await incidents.send(incident.id, event));
    }
  }
}

/** The incident once its channel exists, or as it is after `waitMs`. */
async function waitForChannel(incidents: Incidents, incident: IncidentRecord, waitMs: number): Promise<IncidentRecord> {
  const deadline = Date.now() + waitMs;
  let current = incident;
  while (!current.context.slack && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    current = (await incidents.get(incident.id)) ?? current;
  }
  return current;
}

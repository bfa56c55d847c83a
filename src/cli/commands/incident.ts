/**
 * `runbook incident declare|list|show|ack|mitigate|resolve|note|timeline`: incidents from the
 * terminal, as `cli:<user>`. Like `list`/`status` it starts no workers: channel creation, SLA
 * timers and PagerDuty sync are done by whichever `runbook worker` serves the same Redis.
 */
import { parseArgs } from 'node:util';
import { isEngineError } from '../../engine/errors.ts';
import type { IncidentRecord } from '../../engine/incident-port.ts';
import { renderIncidentTimeline, incidentTimelineView, type TimelineRun } from '../../machines/incident-timeline.ts';
import { SEVERITIES, type IncidentEvent, type Severity } from '../../machines/incident-types.ts';
import type { App } from '../bootstrap.ts';
import { CliError } from '../cli-error.ts';
import { loadConfig } from '../config.ts';
import { withClientApp } from '../connect.ts';
import type { CliIo } from '../io.ts';
import { cliPerson, localPerson } from '../local-user.ts';
import { formatTime, personName, renderTable } from '../run-view.ts';

export const INCIDENT_USAGE = `incident declare <title> [--severity sev1|sev2|sev3] | list [--limit N] [--format text|json] | show <id> [--format text|json]
            | ack <id> | mitigate <id> [--reason TEXT] | resolve <id> [--resolution TEXT] | note <id> <text>
            | timeline <id> [--format md|json]   (all accept --as NAME)`;

const SUBCOMMANDS = ['declare', 'list', 'show', 'ack', 'mitigate', 'resolve', 'note', 'timeline'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const OPTIONS = {
  severity: { type: 'string' },
  format: { type: 'string' },
  limit: { type: 'string' },
  reason: { type: 'string' },
  resolution: { type: 'string' },
  as: { type: 'string' },
} as const;

/** Parses the subcommand and runs it; exit 0 done, 1 the incident ignored the request (with why), 2 a bad request. */
export async function incidentCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new CliError('usage', `expected a subcommand (${SUBCOMMANDS.join(', ')}); got ${JSON.stringify(sub ?? '')}\nusage: runbook ${INCIDENT_USAGE}`);
  }
  const { values, positionals } = parseArgs({ args: [...rest], allowPositionals: true, options: OPTIONS });
  const by = values.as !== undefined ? cliPerson(values.as) : localPerson(io.env);
  const command = sub as Subcommand;
  const format = (allowed: readonly string[], fallback: string) => oneOf('--format', values.format ?? fallback, allowed);
  const idOf = (usage: string) => incidentIdOf(positionals[0], `runbook incident ${usage}`);
  const config = loadConfig(io.env, io.cwd);
  switch (command) {
    case 'declare': {
      const title = positionals.join(' ').trim();
      if (!title) throw new CliError('usage', 'expected a title: runbook incident declare "model-x p99 above 2s" [--severity sev2]');
      const severity = oneOf('--severity', values.severity ?? 'sev3', SEVERITIES) as Severity;
      return withIncidents(config, io, async (app) => {
        const { incident } = await app.runtime.incidents.declare({ title, severity, source: 'cli', declaredBy: by });
        io.stdout(`🚨 declared ${incident.id} (${severity}): ${incident.context.title}\n`);
        return 0;
      });
    }
    case 'list': {
      const limit = Number(values.limit ?? '20');
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('usage', `--limit must be a whole number from 1 to 1000; got ${JSON.stringify(values.limit)}`);
      const fmt = format(['text', 'json'], 'text');
      return withIncidents(config, io, async (app) => {
        const incidents = await app.runtime.incidents.list(limit);
        io.stdout(fmt === 'json' ? `${JSON.stringify(incidents.map(summaryOf), null, 2)}\n` : renderList(incidents));
        return 0;
      });
    }
    case 'show': {
      const id = idOf('show <id>');
      const fmt = format(['text', 'json'], 'text');
      return withIncidents(config, io, async (app) => {
        const incident = await requireIncident(app, id);
        io.stdout(fmt === 'json' ? `${JSON.stringify(incident, null, 2)}\n` : renderShow(incident));
        return 0;
      });
    }
    case 'timeline': {
      const id = idOf('timeline <id> --format md|json');
      const fmt = format(['md', 'json'], 'md');
      return withIncidents(config, io, async (app) => {
        const incident = await requireIncident(app, id);
        const runs = await runsOf(app, incident);
        io.stdout(fmt === 'json' ? `${JSON.stringify(incidentTimelineView(incident, runs), null, 2)}\n` : renderIncidentTimeline(incident, runs));
        return 0;
      });
    }
    case 'ack':
      return move(config, io, idOf('ack <id>'), { type: 'incident.acknowledge', by, source: 'cli' });
    case 'mitigate':
      return move(config, io, idOf('mitigate <id> [--reason TEXT]'), { type: 'incident.mitigate', by, source: 'cli', ...(values.reason ? { reason: values.reason } : {}) });
    case 'resolve':
      return move(config, io, idOf('resolve <id> [--resolution TEXT]'), { type: 'incident.resolve', by, source: 'cli', ...(values.resolution ? { resolution: values.resolution } : {}) });
    case 'note': {
      const id = idOf('note <id> <text>');
      const text = positionals.slice(1).join(' ').trim();
      if (!text) throw new CliError('usage', 'expected the note after the incident id: runbook incident note INC-3 "rolled back model-x"');
      return move(config, io, id, { type: 'incident.note', by, text });
    }
  }
}

async function move(config: ReturnType<typeof loadConfig>, io: CliIo, id: string, event: IncidentEvent): Promise<number> {
  return withIncidents(config, io, async (app) => {
    await requireIncident(app, id);
    const result = await app.runtime.incidents.send(id, event);
    if (!result.applied) {
      io.stderr(`runbook incident: ${id} ${explain(result.reason, result.incident)}\n`);
      return 1;
    }
    io.stdout(`${id} is ${result.incident.status}${event.type === 'incident.note' ? ' (note added)' : ''}\n`);
    return 0;
  });
}

function explain(reason: string | undefined, incident: IncidentRecord): string {
  const c = incident.context;
  switch (reason) {
    case 'already_acknowledged':
      return `was already acknowledged by ${c.acknowledged ? `${personName(c.acknowledged.by)} at ${formatTime(c.acknowledged.at)}` : 'someone'}`;
    case 'already_mitigating':
      return `is already being mitigated (since ${c.mitigating ? formatTime(c.mitigating.at) : '?'})`;
    case 'incident_resolved':
      return `was resolved by ${c.resolved ? `${personName(c.resolved.by)} at ${formatTime(c.resolved.at)}` : 'someone'}; nothing changes after that`;
    default:
      return `ignored the request (${reason ?? 'not applicable'})`;
  }
}

async function withIncidents(config: ReturnType<typeof loadConfig>, io: CliIo, use: (app: App) => Promise<number>): Promise<number> {
  return withClientApp(config, io, 'incident', async (app) => {
    try {
      return await use(app);
    } catch (error) {
      if (isEngineError(error, 'incident_invalid') || isEngineError(error, 'incident_not_found')) throw new CliError(error.code, error.message);
      throw error;
    }
  });
}

async function requireIncident(app: App, id: string): Promise<IncidentRecord> {
  const incident = await app.runtime.incidents.get(id);
  if (incident) return incident;
  throw new CliError('incident_not_found', `no incident ${id} (prefix ${app.config.redisPrefix}); \`runbook incident list\` shows recent incidents`);
}

async function runsOf(app: App, incident: IncidentRecord): Promise<TimelineRun[]> {
  const runs = await Promise.all(incident.context.runs.map((id) => app.runtime.engine.getRun(id)));
  return runs.flatMap((run) => (run ? [{ id: run.id, runbookId: run.runbookId, status: run.status }] : []));
}

/** `INC-3`, `inc-3` or `3` → `INC-3`. */
export function incidentIdOf(raw: string | undefined, usage: string): string {
  const match = /^(?:inc-)?(\d{1,12})$/i.exec(raw?.trim() ?? '');
  if (!match) throw new CliError('usage', `expected an incident id such as INC-3; got ${JSON.stringify((raw ?? '').slice(0, 40))}: ${usage}`);
  return `INC-${Number(match[1])}`;
}

function summaryOf(incident: IncidentRecord) {
  const c = incident.context;
  return {
    id: incident.id,
    title: c.title,
    severity: c.severity,
    status: incident.status,
    declaredBy: c.declaredBy,
    createdAt: new Date(incident.createdAt).toISOString(),
    updatedAt: new Date(incident.updatedAt).toISOString(),
    ...(c.pagerDuty ? { pagerDutyIncidentId: c.pagerDuty.incidentId } : {}),
    ...(c.slack ? { slackChannel: c.slack.name } : {}),
    runs: c.runs.length,
  };
}

function renderList(incidents: readonly IncidentRecord[]): string {
  if (incidents.length === 0) return 'No incidents. Declare one with `runbook incident declare <title>`.\n';
  const rows = incidents.map((i) => [i.id, i.context.severity, i.status, i.context.title.slice(0, 60), personName(i.context.declaredBy), formatTime(i.createdAt)]);
  return `${renderTable([['INCIDENT', 'SEV', 'STATUS', 'TITLE', 'DECLARED BY', 'DECLARED'], ...rows])}\n`;
}

function renderShow(incident: IncidentRecord): string {
  const c = incident.context;
  const moved = (m: { by: { id: string; name?: string }; at: number } | null) => (m ? `${personName(m.by)} at ${formatTime(m.at)}` : '-');
  const lines = [
    `${incident.id}: ${c.title}`,
    `severity:     ${c.severity}`,
    `status:       ${incident.status}`,
    `declared:     ${personName(c.declaredBy)} at ${formatTime(c.createdAt)} (via ${c.source})`,
    `acknowledged: ${moved(c.acknowledged)}`,
    `mitigating:   ${moved(c.mitigating)}`,
    `resolved:     ${moved(c.resolved)}${c.resolved?.resolution ? ` — ${c.resolved.resolution}` : ''}`,
    `pagerduty:    ${c.pagerDuty ? (c.pagerDuty.htmlUrl ?? c.pagerDuty.incidentId) : '-'}`,
    `slack:        ${c.slack ? `#${c.slack.name}` : '-'}`,
    `runs:         ${c.runs.length > 0 ? c.runs.join(', ') : '-'}`,
    '',
    ...c.timeline.slice(-10).map((t) => `${formatTime(t.at)}  ${t.type.padEnd(22)} ${personName(t.actor)}: ${t.text}`),
  ];
  return `${lines.join('\n')}\n`;
}

function oneOf(flag: string, value: string, allowed: readonly string[]): string {
  if (allowed.includes(value)) return value;
  throw new CliError('usage', `${flag} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

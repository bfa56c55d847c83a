/**
 * Which runbooks a PagerDuty incident starts (DESIGN.md §3 `triggers.pagerduty`). Pure: the
 * webhook worker hands it the incident's service, urgency and title and the loaded runbooks.
 *
 * A rule matches when every key it sets matches: `service` equals the incident's service id, or
 * its name ignoring case; `urgency` equals; `title` (a regex, unanchored) finds a match in the
 * title. The regex's named groups become params, for the params the runbook declares. The first
 * matching rule of a runbook wins.
 */
import type { PagerDutyTrigger, Runbook } from './ir.ts';

/** What the rules look at. */
export interface TriggeringIncident {
  readonly title: string;
  readonly serviceId?: string;
  readonly serviceName?: string;
  readonly urgency?: string;
}

/** A runbook the incident starts, with the params its rule captured. */
export interface TriggerMatch<R extends Pick<Runbook, 'id' | 'params' | 'triggers'> = Runbook> {
  readonly runbook: R;
  /** Index of the rule in `triggers.pagerduty`. */
  readonly rule: number;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Titles longer than this are cut before matching: PagerDuty titles are short, and a bound keeps
 * a slow pattern from spending much time on an attacker-sized title.
 */
export const MAX_TITLE_CHARS = 1_024;

/** The params a rule captures from `incident`, or undefined when it does not match. */
export function matchPagerDutyTrigger(rule: PagerDutyTrigger, incident: TriggeringIncident, declared: ReadonlySet<string>): Readonly<Record<string, string>> | undefined {
  if (rule.service !== undefined && !serviceMatches(rule.service, incident)) return undefined;
  if (rule.urgency !== undefined && rule.urgency !== incident.urgency) return undefined;
  if (rule.title === undefined) return {};
  const pattern = compileTitlePattern(rule.title);
  if (!pattern) return undefined;
  const found = pattern.exec(incident.title.slice(0, MAX_TITLE_CHARS));
  if (!found) return undefined;
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(found.groups ?? {})) {
    if (value !== undefined && declared.has(name)) params[name] = value;
  }
  return params;
}

/** Every runbook with a rule matching `incident`, in the order given, each once. */
export function findTriggeredRunbooks<R extends Pick<Runbook, 'id' | 'params' | 'triggers'>>(runbooks: readonly R[], incident: TriggeringIncident): TriggerMatch<R>[] {
  const matches: TriggerMatch<R>[] = [];
  const seen = new Set<string>();
  for (const runbook of runbooks) {
    if (seen.has(runbook.id)) continue;
    const declared = new Set(runbook.params.map((p) => p.name));
    for (const [rule, trigger] of runbook.triggers.pagerduty.entries()) {
      const params = matchPagerDutyTrigger(trigger, incident, declared);
      if (!params) continue;
      matches.push({ runbook, rule, params });
      seen.add(runbook.id);
      break;
    }
  }
  return matches;
}

/**
 * The title regex with the `u` flag, as `runbook lint` compiles it; undefined when it does not
 * compile (lint reports that as an error, so such a runbook never loads; this never throws).
 */
export function compileTitlePattern(source: string): RegExp | undefined {
  try {
    return new RegExp(source, 'u');
  } catch {
    return undefined;
  }
}

function serviceMatches(wanted: string, incident: TriggeringIncident): boolean {
  if (incident.serviceId !== undefined && wanted === incident.serviceId) return true;
  return incident.serviceName !== undefined && wanted.toLowerCase() === incident.serviceName.toLowerCase();
}

/**
 * Wiring of the Slack side of incidents (issue 6) into the worker: the part of the incident
 * effect handler that makes the channel, keeps the pinned summary current, posts and reminds,
 * paging through PagerDuty when a reminder rung asks for it and PagerDuty is configured.
 */
import type { IncidentEffectPart } from '../bot/incident-effects.ts';
import { createIncidentPager } from '../bot/incident-page.ts';
import { createSlackIncidentEffects, SLACK_INCIDENT_EFFECT_KINDS } from '../bot/incident-slack.ts';
import type { EngineLogger } from '../engine/engine.ts';
import type { Runtime } from '../engine/runtime.ts';
import { createPagerDutyClient } from '../integrations/pagerduty.ts';
import { createSlackClient } from '../integrations/slack.ts';
import type { AppConfig } from './config.ts';

/** The Slack part of the incident effect handler; undefined without `SLACK_BOT_TOKEN`. */
export function slackIncidentEffectPart({ config, runtime, logger }: { readonly config: AppConfig; readonly runtime: Runtime; readonly logger: EngineLogger }): IncidentEffectPart | undefined {
  if (!config.slack) return undefined;
  const handle = createSlackIncidentEffects({
    // No client retries (a resent post duplicates) and 429s surface to the handler, which reschedules.
    slack: createSlackClient({ ...config.slack, retries: 0, rejectRateLimitedCalls: true }),
    incidents: runtime.incidents,
    runs: runtime.engine,
    redis: runtime.redis,
    prefix: config.redisPrefix,
    queue: runtime.incidentQueues.effects,
    logger,
    ...(config.pagerDuty
      ? { page: createIncidentPager({ pagerDuty: createPagerDutyClient(config.pagerDuty), redis: runtime.redis, prefix: config.redisPrefix, ...(config.pagerDutyDefaultService ? { defaultService: config.pagerDutyDefaultService } : {}) }) }
      : {}),
  });
  return { kinds: SLACK_INCIDENT_EFFECT_KINDS, handle };
}

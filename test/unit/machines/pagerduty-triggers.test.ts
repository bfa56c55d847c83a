import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { PagerDutyTrigger, Runbook } from '../../../src/machines/ir.ts';
import { compileTitlePattern, findTriggeredRunbooks, matchPagerDutyTrigger } from '../../../src/machines/pagerduty-triggers.ts';
import { load, valid } from '../../helpers/runbooks.ts';

const LATENCY = fileURLToPath(new URL('../../../runbooks/diagnose-model-latency.md', import.meta.url));

const runbook = (id: string, triggers: string, params = 'model: { type: string }') => valid(`---
id: ${id}
params:
  ${params}
triggers:
  pagerduty:
${triggers}
---
# ${id}

## Look {#look}
Look at it.
`);

const declared = new Set(['model', 'region']);
const incident = { title: 'p99 latency SLO burn: model-ranker in eu-west-1', serviceId: 'PSVC001', serviceName: 'model-serving', urgency: 'high' };

describe('matchPagerDutyTrigger', () => {
  describe('when the title pattern has named groups', () => {
    it('returns the groups that are declared params', () => {
      const rule: PagerDutyTrigger = { title: '(?<model>model-[a-z0-9-]+) in (?<region>[a-z]+-[a-z]+-\\d)(?<extra>)' };
      expect(matchPagerDutyTrigger(rule, incident, declared)).toEqual({ model: 'model-ranker', region: 'eu-west-1' });
    });

    it('does not match a title without the pattern', () => {
      expect(matchPagerDutyTrigger({ title: '(?<model>model-[a-z0-9-]+)' }, { ...incident, title: 'disk full on db-3' }, declared)).toBeUndefined();
    });

    it('leaves out an optional group that did not take part', () => {
      expect(matchPagerDutyTrigger({ title: '(?<model>model-[a-z]+)(?: in (?<region>nowhere))?' }, incident, declared)).toEqual({ model: 'model-ranker' });
    });
  });

  describe('when the rule names a service', () => {
    it('matches the service by id', () => {
      expect(matchPagerDutyTrigger({ service: 'PSVC001' }, incident, declared)).toEqual({});
    });

    it('matches the service by name, ignoring case', () => {
      expect(matchPagerDutyTrigger({ service: 'Model-Serving' }, incident, declared)).toEqual({});
    });

    it('does not match another service', () => {
      expect(matchPagerDutyTrigger({ service: 'feature-pipeline' }, incident, declared)).toBeUndefined();
      expect(matchPagerDutyTrigger({ service: 'model-serving' }, { title: 'x' }, declared)).toBeUndefined();
    });
  });

  describe('when the rule names an urgency', () => {
    it('matches only that urgency', () => {
      expect(matchPagerDutyTrigger({ urgency: 'high' }, incident, declared)).toEqual({});
      expect(matchPagerDutyTrigger({ urgency: 'low' }, incident, declared)).toBeUndefined();
    });
  });

  describe('when the pattern does not compile', () => {
    it('matches nothing and does not throw', () => {
      expect(compileTitlePattern('(?<model>')).toBeUndefined();
      expect(matchPagerDutyTrigger({ title: '(?<model>' }, incident, declared)).toBeUndefined();
    });
  });
});

describe('findTriggeredRunbooks', () => {
  describe('when several runbooks and rules match', () => {
    it('returns each matching runbook once, with its first matching rule', () => {
      const a = runbook('a', '    - { service: feature-pipeline }\n    - { service: model-serving, title: "(?<model>model-[a-z]+)" }\n    - { service: model-serving, urgency: high }');
      const b = runbook('b', '    - { service: model-serving, urgency: low }');
      const c = runbook('c', '    - { title: "SLO burn" }');
      const found = findTriggeredRunbooks([a, b, c], incident);
      expect(found.map((m) => [m.runbook.id, m.rule, m.params])).toEqual([['a', 1, { model: 'model-ranker' }], ['c', 0, {}]]);
    });
  });

  describe('when given the shipped latency runbook', () => {
    const latency = load(readFileSync(LATENCY, 'utf8'), 'runbooks/diagnose-model-latency.md').runbook as Runbook;

    it('starts it for a high-urgency model-serving incident naming a model', () => {
      expect(findTriggeredRunbooks([latency], incident).map((m) => m.params)).toEqual([{ model: 'model-ranker' }]);
    });

    it('does not start it for a low-urgency one', () => {
      expect(findTriggeredRunbooks([latency], { ...incident, urgency: 'low' })).toEqual([]);
    });

    it('does not start it for another service', () => {
      expect(findTriggeredRunbooks([latency], { ...incident, serviceId: 'PSVC002', serviceName: 'feature-pipeline' })).toEqual([]);
    });
  });
});

/**
 * The PagerDuty client of `src/integrations/pagerduty.ts` (real `@pagerduty/pdjs`) against the
 * PagerDuty stand-in: the calls the bot makes beside opening an incident.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPagerDutyClient, PagerDutyError, type PagerDutyClient } from '../../../src/integrations/pagerduty.ts';
import { startPagerDutyStandIn, type PagerDutyStandIn } from '../../../src/sandbox/pagerduty.ts';

const open: PagerDutyStandIn[] = [];
afterEach(async () => {
  for (const standIn of open.splice(0)) await standIn.close();
});

async function harness(): Promise<{ standIn: PagerDutyStandIn; pd: PagerDutyClient; incidentId: string }> {
  const standIn = await startPagerDutyStandIn({ port: 0 });
  open.push(standIn);
  const pd = createPagerDutyClient({ token: 'pd-test-token', from: 'bot@example.com', apiUrl: standIn.url, rateLimitRetryDelayMs: 10 });
  const { incident } = await pd.createIncident({ service: 'PSVC001', title: 'drift on model-x', incidentKey: 'k-1' });
  return { standIn, pd, incidentId: incident.id };
}

async function pagerDutyErrorOf(call: Promise<unknown>): Promise<PagerDutyError> {
  const error: unknown = await call.then(() => expect.fail('expected the call to fail'), (e: unknown) => e);
  if (!(error instanceof PagerDutyError)) throw error;
  return error;
}

describe('PagerDuty client', () => {
  describe('when notes are added', () => {
    it('posts them with From and reads them back', async () => {
      const { standIn, pd, incidentId } = await harness();
      const note = await pd.addNote(incidentId, 'Runbook step 2 done');
      expect(note.content).toBe('Runbook step 2 done');
      expect(standIn.state.callsTo('POST', `/incidents/${incidentId}/notes`)[0]).toMatchObject({ from: 'bot@example.com', body: { note: { content: 'Runbook step 2 done' } } });
      expect(standIn.state.notes.get(incidentId)?.map((n) => n.content)).toEqual(['Runbook step 2 done']);
    });
  });

  describe('when an incident is acknowledged, escalated and resolved', () => {
    it('sends incident_reference updates and reads the new state', async () => {
      const { standIn, pd, incidentId } = await harness();
      expect(await pd.updateIncident(incidentId, { status: 'acknowledged' })).toMatchObject({ status: 'acknowledged' });
      expect(await pd.updateIncident(incidentId, { escalation_level: 2 })).toMatchObject({ escalation_level: 2, status: 'triggered' });
      expect(await pd.updateIncident(incidentId, { status: 'resolved', resolution: 'rolled back' })).toMatchObject({ status: 'resolved' });
      expect(standIn.state.callsTo('PUT', '/incidents/')[0]?.body).toEqual({ incident: { type: 'incident_reference', status: 'acknowledged' } });
      expect(await pd.getIncident(incidentId)).toMatchObject({ status: 'resolved' });
    });

    it('refuses an escalation level the policy does not have, not retryable', async () => {
      const { pd, incidentId } = await harness();
      const error = await pagerDutyErrorOf(pd.updateIncident(incidentId, { escalation_level: 9 }));
      expect(error).toMatchObject({ code: 'pagerduty_rejected', retryable: false, status: 400 });
      expect(error.apiErrors[0]).toContain('Escalation level');
    });
  });

  describe('when incidents are listed', () => {
    it('filters by incident_key and status', async () => {
      const { pd, incidentId } = await harness();
      expect((await pd.listIncidents({ incidentKey: 'k-1', statuses: ['triggered'] })).map((i) => i.id)).toEqual([incidentId]);
      expect(await pd.listIncidents({ incidentKey: 'other' })).toEqual([]);
    });
  });

  describe('when an incident does not exist', () => {
    it('fails with pagerduty_rejected 404', async () => {
      const { pd } = await harness();
      expect(await pagerDutyErrorOf(pd.getIncident('QNOPE'))).toMatchObject({ code: 'pagerduty_rejected', status: 404, apiMessage: 'Not Found' });
    });
  });
});

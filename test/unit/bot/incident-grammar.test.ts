import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/bot/grammar.ts';

describe('parseCommand incident', () => {
  describe('when an incident is declared', () => {
    it('takes a quoted title and a trailing severity', () => {
      expect(parseCommand('incident declare "Model latency high" sev2')).toEqual({ kind: 'incident', action: 'declare', title: 'Model latency high', severity: 'sev2' });
    });
    it('takes an unquoted title of many words, with the severity first or absent', () => {
      expect(parseCommand('incident declare SEV1 feature store down')).toEqual({ kind: 'incident', action: 'declare', title: 'feature store down', severity: 'sev1' });
      expect(parseCommand('INCIDENT Declare feature store down')).toEqual({ kind: 'incident', action: 'declare', title: 'feature store down' });
    });
    it('keeps a quoted "sev2" as part of the title', () => {
      expect(parseCommand('incident declare "sev2"')).toEqual({ kind: 'incident', action: 'declare', title: 'sev2' });
    });
    it('undoes Slack\'s escaping of <, > and & in the title', () => {
      expect(parseCommand('incident declare "p99 &gt; 2s &amp; &lt;!channel&gt;" sev3')).toEqual({ kind: 'incident', action: 'declare', title: 'p99 > 2s & <!channel>', severity: 'sev3' });
    });
    it('reports a missing or over-long title with the usage', () => {
      expect(parseCommand('incident declare sev1')).toMatchObject({ kind: 'invalid', message: expect.stringContaining('needs a title'), usage: '/runbook incident declare <title> [sev1|sev2|sev3]' });
      expect(parseCommand(`incident declare ${'x'.repeat(151)}`)).toMatchObject({ kind: 'invalid', message: 'the incident title is 151 characters long; at most 150 are allowed' });
    });
  });

  describe('when a move is typed', () => {
    it('parses ack, mitigate with a reason and resolve with a resolution', () => {
      expect(parseCommand('incident ack')).toEqual({ kind: 'incident', action: 'ack' });
      expect(parseCommand('incident acknowledge')).toEqual({ kind: 'incident', action: 'ack' });
      expect(parseCommand('incident mitigate rolled back')).toEqual({ kind: 'incident', action: 'mitigate', text: 'rolled back' });
      expect(parseCommand('incident resolve "rolled back to v41"')).toEqual({ kind: 'incident', action: 'resolve', text: 'rolled back to v41' });
      expect(parseCommand('incident resolve')).toEqual({ kind: 'incident', action: 'resolve' });
    });
    it('rejects arguments to ack', () => {
      expect(parseCommand('incident ack now')).toMatchObject({ kind: 'invalid', message: '`incident ack` takes no arguments; got 1', usage: '/runbook incident ack' });
    });
  });

  describe('when status is asked', () => {
    it('takes an optional incident id', () => {
      expect(parseCommand('incident status')).toEqual({ kind: 'incident', action: 'status' });
      expect(parseCommand('incident status INC-7')).toEqual({ kind: 'incident', action: 'status', incidentId: 'INC-7' });
    });
  });

  describe('when the incident subcommand is missing or unknown', () => {
    it('says which subcommands exist', () => {
      expect(parseCommand('incident')).toMatchObject({ kind: 'invalid', message: '`incident` needs what to do: declare, ack, mitigate, resolve or status' });
      expect(parseCommand('incident close')).toMatchObject({ kind: 'invalid', message: expect.stringContaining('`incident close` is not an incident command') });
    });
  });
});

import { describe, expect, it } from 'vitest';
import { AuditStoreError } from '../../../src/audit/errors.ts';
import { prepareAuditRecords } from '../../../src/audit/prepare-records.ts';
import type { AuditRecordInput } from '../../../src/audit/record.ts';

function problemsOf(records: readonly unknown[]): AuditStoreError {
  try {
    prepareAuditRecords(records as AuditRecordInput[]);
  } catch (error) {
    if (error instanceof AuditStoreError) return error;
    throw error;
  }
  throw new Error('expected prepareAuditRecords to throw');
}

const valid = { id: 'run-1.1.0', at: 1_700_000_000_000, actor: 'system', type: 'run.requested', data: { a: 1 } };

describe('prepareAuditRecords', () => {
  describe('when records are valid', () => {
    it('drops undefined optionals and unknown properties, and normalises data to plain JSON', () => {
      const [prepared] = prepareAuditRecords([{ ...valid, runId: undefined, extra: 'x', data: { when: new Date(0), gone: undefined } } as AuditRecordInput]);
      expect(prepared).toStrictEqual({ ...valid, data: { when: '1970-01-01T00:00:00.000Z' } });
    });

    it('stores missing data as null', () => {
      expect(prepareAuditRecords([{ ...valid, data: undefined }])[0]?.data).toBeNull();
    });

    it('redacts secrets in data', () => {
      expect(prepareAuditRecords([{ ...valid, data: { headers: { Authorization: 'Bearer abc' } } }])[0]?.data).toEqual({ headers: { Authorization: '[redacted]' } });
    });
  });

  describe('when records are invalid', () => {
    it('reports every problem in the batch at once, located, as a non-retryable audit_record_invalid', () => {
      const error = problemsOf([valid, { ...valid, id: '', at: -1 }, { ...valid, type: 'Step Succeeded', runId: 42, data: { n: 10n } }]);
      expect(error).toMatchObject({ code: 'audit_record_invalid', retryable: false });
      expect(error.message).toContain('5 invalid');
      expect(error.message).toContain('records[1].id: expected a non-empty id');
      expect(error.message).toContain('records[1].at: expected epoch milliseconds');
      expect(error.message).toContain("records[2].type: expected a dotted lowercase event type such as 'step.succeeded', received \"Step Succeeded\"");
      expect(error.message).toContain('records[2].runId: expected a non-empty string');
      expect(error.message).toContain('records[2].data: expected plain JSON; at $.n:');
    });

    it('never echoes a secret it was given in a bad field', () => {
      const error = problemsOf([{ ...valid, type: 'Step xoxb-123-secret' }]);
      expect(error.message).not.toContain('xoxb-123-secret');
    });

    it('refuses something that is not an array', () => {
      expect(() => prepareAuditRecords({} as unknown as AuditRecordInput[])).toThrow(/expected an array of audit records/);
    });
  });
});

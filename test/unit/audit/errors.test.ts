import { describe, expect, it } from 'vitest';
import { AuditStoreError, isAuditStoreError } from '../../../src/audit/errors.ts';

describe('AuditStoreError', () => {
  describe('when created', () => {
    it('derives retryable from the code and chains the cause', () => {
      const cause = new Error('SQLITE_BUSY');
      const error = new AuditStoreError('audit_store_unavailable', 'locked', { cause });
      expect(error).toMatchObject({ name: 'AuditStoreError', code: 'audit_store_unavailable', retryable: true, cause });
      expect(new AuditStoreError('audit_record_invalid', 'bad').retryable).toBe(false);
    });
  });

  describe('when it has crossed a process boundary as plain JSON', () => {
    it('is still recognised by code, without instanceof', () => {
      const crossed: unknown = JSON.parse(JSON.stringify({ code: 'audit_store_unavailable', retryable: true, message: 'locked' }));
      expect(isAuditStoreError(crossed)).toBe(true);
      expect(isAuditStoreError(crossed, 'audit_store_unavailable')).toBe(true);
      expect(isAuditStoreError(crossed, 'audit_record_invalid')).toBe(false);
      expect(isAuditStoreError({ code: 'executor_timeout', retryable: true })).toBe(false);
      expect(isAuditStoreError(null)).toBe(false);
    });
  });
});

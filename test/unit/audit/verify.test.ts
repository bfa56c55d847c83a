import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashAuditRecord, sealAuditRecord, type AuditRecord } from '../../../src/audit/record.ts';
import { createChainVerifier, type VerifyResult } from '../../../src/audit/verify.ts';

function chain(length: number): AuditRecord[] {
  const records: AuditRecord[] = [];
  for (let seq = 1; seq <= length; seq += 1) {
    const prevHash = records.at(-1)?.hash ?? GENESIS_HASH;
    records.push(sealAuditRecord({ id: `run-1.${seq}`, at: 1_700_000_000_000 + seq, runId: 'run-1', actor: 'system', type: 'step.succeeded', data: { n: seq } }, seq, prevHash));
  }
  return records;
}

function verify(records: readonly AuditRecord[]): VerifyResult {
  const verifier = createChainVerifier();
  for (const record of records) if (verifier.next(record) !== undefined) break;
  return verifier.result();
}

describe('chain verifier', () => {
  describe('when the chain is intact', () => {
    it('is ok and counts every record', () => {
      expect(verify(chain(5))).toEqual({ ok: true, count: 5 });
    });

    it('is ok with count 0 for an empty chain', () => {
      expect(verify([])).toEqual({ ok: true, count: 0 });
    });
  });

  describe('when a record was changed', () => {
    it('reports hash_mismatch at that seq, with the intact prefix counted', () => {
      const records = chain(5);
      records[2] = { ...records[2]!, data: { n: 999 } };
      expect(verify(records)).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'hash_mismatch' });
    });
  });

  describe('when a record was changed and re-hashed', () => {
    it('reports broken_link at the next seq', () => {
      const records = chain(5);
      const { hash: _hash, ...forged } = { ...records[1]!, actor: 'U-mallory' };
      records[1] = { ...forged, hash: hashAuditRecord(forged) };
      expect(verify(records)).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'broken_link' });
    });
  });

  describe('when records are missing', () => {
    it('reports sequence_gap at the first missing seq', () => {
      const records = chain(6).filter((r) => r.seq !== 3 && r.seq !== 4);
      const result = verify(records);
      expect(result).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'sequence_gap' });
      expect(result.ok ? '' : result.detail).toContain('seqs 3–4 are missing');
    });

    it('reports sequence_gap at seq 1 when the chain does not start at 1', () => {
      expect(verify(chain(3).slice(1))).toMatchObject({ ok: false, count: 0, firstBadSeq: 1, reason: 'sequence_gap' });
    });
  });

  describe('when a stored row could not be read', () => {
    it('reports hash_mismatch at that seq with the reason', () => {
      const verifier = createChainVerifier();
      verifier.next(chain(1)[0]!);
      verifier.next({ seq: 2, unreadable: 'the data column is not valid JSON' });
      expect(verifier.result()).toEqual({ ok: false, count: 1, firstBadSeq: 2, reason: 'hash_mismatch', detail: 'seq 2: the data column is not valid JSON' });
    });
  });
});

describe('hashAuditRecord', () => {
  describe('when optional fields are absent', () => {
    it('hashes the same as when they are explicitly undefined', () => {
      const base = { seq: 1, id: 'a', at: 1, actor: 'system', type: 'run.requested', data: {}, prevHash: GENESIS_HASH };
      expect(hashAuditRecord({ ...base, runId: undefined })).toBe(hashAuditRecord(base));
      expect(hashAuditRecord(base)).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  describe('when any hashed field differs', () => {
    it('gives a different hash', () => {
      const base = { seq: 1, id: 'a', at: 1, actor: 'system', type: 'run.requested', data: { x: 1 }, prevHash: GENESIS_HASH };
      const variants = [{ seq: 2 }, { id: 'b' }, { at: 2 }, { actor: 'U1' }, { type: 'run.started' }, { data: { x: 2 } }, { runId: 'r' },
        { incidentId: 'i' }, { runbookId: 'rb' }, { runbookHash: 'h' }, { prevHash: '1'.repeat(64) }];
      const hashes = new Set([base, ...variants.map((v) => ({ ...base, ...v }))].map((r) => hashAuditRecord(r)));
      expect(hashes.size).toBe(variants.length + 1);
    });
  });
});

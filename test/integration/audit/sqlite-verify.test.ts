import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { hashAuditRecord } from '../../../src/audit/record.ts';
import { createTempDataDirs, makeRecords, rawColumn, tamper } from './store-fixtures.ts';

const temp = createTempDataDirs();
afterEach(() => temp.cleanup());

/** A store holding run-1.1 .. run-1.<count>, seq 1..count. */
async function storeWith(count: number) {
  const opened = temp.openStore();
  await opened.store.append(makeRecords(count));
  return opened;
}

/** Renumbers seq >= from by +1, as an inserter must to make room (negate first: seq is the primary key). */
const SHIFT_UP = 'UPDATE audit_records SET seq = -(seq + 1) WHERE seq >= ?';
const UNNEGATE = 'UPDATE audit_records SET seq = -seq WHERE seq < 0';

describe('sqlite audit store', () => {
  describe('when the chain is untouched', () => {
    it('verifies ok and counts every record', async () => {
      const { store } = await storeWith(10);
      expect(await store.verify()).toEqual({ ok: true, count: 10 });
    });

    it('verifies an empty store as ok with count 0', async () => {
      const { store } = temp.openStore();
      expect(await store.verify()).toEqual({ ok: true, count: 0 });
    });

    it('verifies a chain longer than one read page', async () => {
      const { store } = temp.openStore();
      for (let first = 1; first <= 2500; first += 500) await store.append(makeRecords(500, 'run-1', first));
      expect(await store.verify()).toEqual({ ok: true, count: 2500 });
    });
  });

  describe('when a record is updated in place through SQL', () => {
    it('is refused while the append-only triggers are in place', async () => {
      const { path } = await storeWith(3);
      const raw = new Database(path);
      expect(() => raw.prepare("UPDATE audit_records SET actor = 'U-mallory' WHERE seq = 2").run()).toThrow(/append-only/);
      expect(() => raw.prepare('DELETE FROM audit_records WHERE seq = 2').run()).toThrow(/append-only/);
      raw.close();
    });
  });

  describe('when a field was changed', () => {
    it('reports hash_mismatch at that seq', async () => {
      const { store, path } = await storeWith(6);
      tamper(path, 'UPDATE audit_records SET data = ? WHERE seq = 4', '{"output":{"rows":0},"step":"s4"}');
      expect(await store.verify()).toMatchObject({ ok: false, count: 3, firstBadSeq: 4, reason: 'hash_mismatch', detail: expect.stringContaining('run-1.4') });
    });

    it('reports hash_mismatch when the data column is no longer JSON', async () => {
      const { store, path } = await storeWith(3);
      tamper(path, "UPDATE audit_records SET data = 'not json' WHERE seq = 2");
      expect(await store.verify()).toMatchObject({ ok: false, count: 1, firstBadSeq: 2, reason: 'hash_mismatch', detail: expect.stringContaining('not valid JSON') });
      await expect(store.list()).rejects.toMatchObject({ code: 'audit_store_corrupt' });
    });

    it('reports broken_link at the next seq when the changed record was re-hashed', async () => {
      const { store, path } = await storeWith(5);
      const [victim] = await store.list({ afterSeq: 1, limit: 1 });
      const { hash: _hash, ...forged } = { ...victim!, actor: 'U-mallory' };
      tamper(path, 'UPDATE audit_records SET actor = ?, hash = ? WHERE seq = 2', forged.actor, hashAuditRecord(forged));
      expect(await store.verify()).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'broken_link' });
    });
  });

  describe('when a record was deleted', () => {
    it('reports sequence_gap at the missing seq', async () => {
      const { store, path } = await storeWith(6);
      tamper(path, 'DELETE FROM audit_records WHERE seq = 3');
      expect(await store.verify()).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'sequence_gap', detail: expect.stringContaining('seq 3 is missing') });
    });

    it('reports hash_mismatch where a deletion was hidden by renumbering, since seq is hashed', async () => {
      const { store, path } = await storeWith(6);
      tamper(path, 'DELETE FROM audit_records WHERE seq = 3');
      tamper(path, 'UPDATE audit_records SET seq = -(seq - 1) WHERE seq > 3');
      tamper(path, UNNEGATE);
      expect(await store.verify()).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'hash_mismatch' });
    });
  });

  describe('when two records were swapped', () => {
    it('reports hash_mismatch at the lower of the two seqs', async () => {
      const { store, path } = await storeWith(6);
      tamper(path, 'UPDATE audit_records SET seq = -1 WHERE seq = 2');
      tamper(path, 'UPDATE audit_records SET seq = 2 WHERE seq = 5');
      tamper(path, 'UPDATE audit_records SET seq = 5 WHERE seq = -1');
      expect(await store.verify()).toMatchObject({ ok: false, count: 1, firstBadSeq: 2, reason: 'hash_mismatch' });
    });
  });

  describe('when a record was inserted', () => {
    it('reports hash_mismatch at the inserted seq when it was slipped into the middle', async () => {
      const { store, path } = await storeWith(6);
      const prevHash = rawColumn(path, 'hash', 3);
      tamper(path, SHIFT_UP, 4);
      tamper(path, UNNEGATE);
      tamper(path, `INSERT INTO audit_records (seq, id, at, actor, type, data, prev_hash, hash)
        VALUES (4, 'forged.1', 1, 'U-mallory', 'approval.granted', '{}', ?, ?)`, prevHash, 'f'.repeat(64));
      expect(await store.verify()).toMatchObject({ ok: false, count: 3, firstBadSeq: 4, reason: 'hash_mismatch', detail: expect.stringContaining('forged.1') });
    });

    it('reports hash_mismatch at the end when it was appended with a fabricated hash', async () => {
      const { store, path } = await storeWith(4);
      tamper(path, `INSERT INTO audit_records (seq, id, at, actor, type, data, prev_hash, hash)
        VALUES (5, 'forged.2', 1, 'U-mallory', 'approval.granted', '{}', ?, ?)`, rawColumn(path, 'hash', 4), 'e'.repeat(64));
      expect(await store.verify()).toMatchObject({ ok: false, count: 4, firstBadSeq: 5, reason: 'hash_mismatch' });
    });

    it('reports sequence_gap when it was given a seq past the end', async () => {
      const { store, path } = await storeWith(4);
      tamper(path, `INSERT INTO audit_records (seq, id, at, actor, type, data, prev_hash, hash)
        VALUES (9, 'forged.3', 1, 'system', 'run.finished', '{}', ?, ?)`, rawColumn(path, 'hash', 4), 'd'.repeat(64));
      expect(await store.verify()).toMatchObject({ ok: false, count: 4, firstBadSeq: 5, reason: 'sequence_gap' });
    });
  });

  describe('when the tampering is deep in a long chain', () => {
    it('names the first failing seq beyond the first read page', async () => {
      const { store, path } = temp.openStore();
      for (let first = 1; first <= 2500; first += 500) await store.append(makeRecords(500, 'run-1', first));
      tamper(path, "UPDATE audit_records SET type = 'step.failed' WHERE seq = 2101");
      expect(await store.verify()).toMatchObject({ ok: false, count: 2100, firstBadSeq: 2101, reason: 'hash_mismatch' });
    });
  });
});

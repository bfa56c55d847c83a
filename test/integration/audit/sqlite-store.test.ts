import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashAuditRecord, type AuditRecord } from '../../../src/audit/record.ts';
import { auditStorePath, openSqliteAuditStore } from '../../../src/audit/sqlite-store.ts';
import { createTempDataDirs, makeRecords, rawColumn } from './store-fixtures.ts';

const temp = createTempDataDirs();
afterEach(() => temp.cleanup());

function expectLinked(records: readonly AuditRecord[]): void {
  records.forEach((record, index) => {
    expect(record.seq).toBe(index + 1);
    expect(record.prevHash).toBe(index === 0 ? GENESIS_HASH : records[index - 1]?.hash);
    const { hash, ...unsealed } = record;
    expect(hash).toBe(hashAuditRecord(unsealed));
  });
}

describe('sqlite audit store', () => {
  describe('when records are appended', () => {
    it('assigns seq 1..n with each prevHash linking to the previous hash', async () => {
      const { store } = temp.openStore();
      const first = await store.append(makeRecords(3));
      const second = await store.append(makeRecords(2, 'run-1', 4));
      expectLinked([...first, ...second]);
      expect(await store.head()).toEqual({ seq: 5, hash: second[1]?.hash });
      expect(await store.list()).toEqual([...first, ...second]);
    });

    it('returns records equal to what it reads back, without undefined fields', async () => {
      const { store } = temp.openStore();
      const [appended] = await store.append([{ id: 'e1', at: 5, actor: 'pagerduty', type: 'event.ignored', data: { reason: 'no trigger', extra: undefined } }]);
      expect(appended).toStrictEqual({ id: 'e1', at: 5, actor: 'pagerduty', type: 'event.ignored', data: { reason: 'no trigger' }, seq: 1, prevHash: GENESIS_HASH, hash: appended?.hash });
      expect(await store.list()).toStrictEqual([appended]);
    });

    it('stores data as canonical JSON text', async () => {
      const { store, path } = temp.openStore();
      await store.append([{ id: 'c1', at: 1, actor: 'system', type: 'run.requested', data: { z: 1, a: { y: 2, b: [3] } } }]);
      expect(rawColumn(path, 'data', 1)).toBe('{"a":{"b":[3],"y":2},"z":1}');
    });

    it('continues the same chain after the store is reopened', async () => {
      const { store, path } = temp.openStore();
      await store.append(makeRecords(2));
      await store.close();
      const reopened = temp.track(openSqliteAuditStore({ path }));
      await reopened.append(makeRecords(2, 'run-1', 3));
      expectLinked(await reopened.list());
      expect(await reopened.verify()).toEqual({ ok: true, count: 4 });
    });

    it('resolves an empty batch to an empty list without touching the chain', async () => {
      const { store } = temp.openStore();
      expect(await store.append([])).toEqual([]);
      expect(await store.head()).toBeUndefined();
    });
  });

  describe('when an id is appended again', () => {
    it('returns the original record and adds nothing, even if the retry differs', async () => {
      const { store } = temp.openStore();
      const [original] = await store.append(makeRecords(1));
      const [again] = await store.append([{ ...makeRecords(1)[0]!, at: 999, data: { changed: true } }]);
      expect(again).toEqual(original);
      expect(await store.list()).toHaveLength(1);
      expect(await store.head()).toEqual({ seq: 1, hash: original?.hash });
    });

    it('appends only the new ids of a partly repeated batch, answering in input order', async () => {
      const { store } = temp.openStore();
      const [a, b] = await store.append(makeRecords(2));
      const result = await store.append([makeRecords(1, 'run-1', 3)[0]!, makeRecords(1, 'run-1', 2)[0]!, makeRecords(1)[0]!]);
      expect(result.map((r) => r.id)).toEqual(['run-1.3', 'run-1.2', 'run-1.1']);
      expect(result[1]).toEqual(b);
      expect(result[2]).toEqual(a);
      expect(result[0]).toMatchObject({ seq: 3, prevHash: b?.hash });
    });

    it('stores an id repeated within one batch once', async () => {
      const { store } = temp.openStore();
      const [record] = makeRecords(1);
      const result = await store.append([record!, record!]);
      expect(result[0]).toEqual(result[1]);
      expect(await store.list()).toHaveLength(1);
    });
  });

  describe('when part of a batch fails', () => {
    it('appends nothing when one record is invalid', async () => {
      const { store } = temp.openStore();
      const batch = [...makeRecords(2), { ...makeRecords(1, 'run-1', 3)[0]!, actor: '' }];
      await expect(store.append(batch)).rejects.toMatchObject({ code: 'audit_record_invalid', retryable: false });
      expect(await store.head()).toBeUndefined();
    });

    it('rolls back the records already inserted when the database refuses a later one', async () => {
      const { store, path } = temp.openStore();
      await store.append(makeRecords(1));
      const raw = new Database(path);
      raw.exec("CREATE TRIGGER refuse_boom BEFORE INSERT ON audit_records WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
      raw.close();
      const batch = [...makeRecords(2, 'run-1', 2), { ...makeRecords(1, 'run-1', 4)[0]!, id: 'boom' }];
      await expect(store.append(batch)).rejects.toMatchObject({ code: 'audit_store_unavailable', retryable: true, message: expect.stringContaining('disk on fire') });
      expect((await store.list()).map((r) => r.id)).toEqual(['run-1.1']);
    });
  });

  describe('when records are listed with a filter', () => {
    it('filters by runId, type, afterSeq and limit, ascending by seq', async () => {
      const { store } = temp.openStore();
      await store.append([...makeRecords(3, 'run-a'), ...makeRecords(3, 'run-b'), ...makeRecords(2, 'run-a', 4)]);
      expect((await store.list({ runId: 'run-a' })).map((r) => r.seq)).toEqual([1, 2, 3, 7, 8]);
      expect((await store.list({ type: 'run.started' })).map((r) => r.id)).toEqual(['run-a.1', 'run-b.1', 'run-a.4']);
      expect((await store.list({ runId: 'run-a', afterSeq: 2, limit: 2 })).map((r) => r.seq)).toEqual([3, 7]);
      expect(await store.list({ runId: 'nope' })).toEqual([]);
    });

    it('rejects a malformed filter with audit_query_invalid', async () => {
      const { store } = temp.openStore();
      await expect(store.list({ limit: 0 })).rejects.toMatchObject({ code: 'audit_query_invalid', message: expect.stringContaining('limit: expected an integer from 1 to 10000, received 0') });
    });
  });

  describe('when data carries secrets', () => {
    it('stores and hashes "[redacted]", never the secret, and the chain still verifies', async () => {
      const { store, path } = temp.openStore();
      const secrets = ['xoxb-1111-2222-SeCrEtSlAcK', 'AKIAIOSFODNN7EXAMPLE', 'Bearer eyJhbGciOi.JIUzI1NiJ9', 'hunter2-password'];
      const [stored] = await store.append([{
        id: 'r1', at: 1, actor: 'U1', type: 'step.succeeded',
        data: { output: `posted with ${secrets[0]}`, aws: secrets[1], headers: { Authorization: secrets[2] }, db: { password: secrets[3] } },
      }]);
      await store.close();
      expect(stored?.data).toEqual({ output: 'posted with [redacted]', aws: '[redacted]', headers: { Authorization: '[redacted]' }, db: { password: '[redacted]' } });
      expect(rawColumn(path, 'data', 1)).toContain('[redacted]');
      const fileBytes = [path, `${path}-wal`].filter(existsSync).map((file) => readFileSync(file).toString('latin1')).join('');
      for (const secret of secrets) expect(fileBytes).not.toContain(secret.replace(/^Bearer /, ''));
      const reopened = temp.track(openSqliteAuditStore({ path }));
      expect(await reopened.verify()).toEqual({ ok: true, count: 1 });
    });
  });

  describe('when the store is opened', () => {
    it('creates missing directories, uses WAL and FULL sync, and names the file audit.sqlite3', async () => {
      const dataDir = join(temp.makeDir(), 'nested', 'var');
      const path = auditStorePath(dataDir);
      expect(path).toBe(`${dataDir}/audit.sqlite3`);
      temp.track(openSqliteAuditStore({ path }));
      const raw = new Database(path, { readonly: true });
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      raw.close();
      expect(auditStorePath('/srv/data/')).toBe('/srv/data/audit.sqlite3');
    });

    it('works in memory', async () => {
      const store = temp.track(openSqliteAuditStore({ path: ':memory:' }));
      await store.append(makeRecords(3));
      expect(await store.verify()).toEqual({ ok: true, count: 3 });
    });

    it('fails with retryable audit_store_unavailable when the directory cannot be created', () => {
      const blocker = join(temp.makeDir(), 'a-file');
      writeFileSync(blocker, 'not a directory');
      expect(() => openSqliteAuditStore({ path: join(blocker, 'audit.sqlite3') })).toThrow(expect.objectContaining({ code: 'audit_store_unavailable', retryable: true }));
    });

    it('fails with non-retryable audit_config_invalid for bad options', () => {
      expect(() => openSqliteAuditStore({ path: '' })).toThrow(expect.objectContaining({ code: 'audit_config_invalid', retryable: false }));
      expect(() => openSqliteAuditStore({ path: ':memory:', busyTimeoutMs: -1 })).toThrow(/busyTimeoutMs/);
    });

    it('fails with audit_store_corrupt when the file is not a database', () => {
      const path = join(temp.makeDir(), 'audit.sqlite3');
      writeFileSync(path, 'x'.repeat(4096));
      expect(() => openSqliteAuditStore({ path })).toThrow(expect.objectContaining({ code: 'audit_store_corrupt', retryable: false }));
    });
  });

  describe('when the store is closed', () => {
    it('closes idempotently and then rejects calls with audit_store_closed', async () => {
      const { store } = temp.openStore();
      await store.close();
      await store.close();
      await expect(store.append(makeRecords(1))).rejects.toMatchObject({ code: 'audit_store_closed', retryable: false });
      await expect(store.verify()).rejects.toMatchObject({ code: 'audit_store_closed' });
    });
  });
});

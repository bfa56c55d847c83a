import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DIGEST_TYPE, generateDigestKeys, parseDigestKey } from '../../../src/audit/digest.ts';
import { GENESIS_HASH, hashAuditRecord, type AuditRecord, type AuditRecordInput } from '../../../src/audit/record.ts';
import { allBackends } from './backends.ts';
import { makeRecords } from './store-fixtures.ts';

const backends = allBackends();
afterEach(async () => { for (const backend of backends) await backend.cleanup(); });
afterAll(async () => { for (const backend of backends) await backend.close(); });

const KEY = parseDigestKey(generateDigestKeys('ed25519').signingKey);

function expectLinked(records: readonly AuditRecord[]): void {
  records.forEach((record, index) => {
    expect(record.seq).toBe(index + 1);
    expect(record.prevHash).toBe(index === 0 ? GENESIS_HASH : records[index - 1]?.hash);
    const { hash, ...unsealed } = record;
    expect(hash).toBe(hashAuditRecord(unsealed));
  });
}

/** A small run: started by U1, an approval by U2, a step call, finished. */
function runRecords(runId: string, options: { runbookId?: string; incidentId?: string; at?: number; status?: string; finished?: boolean } = {}): AuditRecordInput[] {
  const { runbookId = 'rollback', incidentId, at = 1_700_000_000_000, status = 'succeeded', finished = true } = options;
  const common = { runId, runbookId, runbookHash: 'b'.repeat(64), ...(incidentId ? { incidentId } : {}) };
  return [
    { ...common, id: `${runId}.1.0`, at, actor: 'U1REQ', type: 'run.started', data: { runbook: runbookId, params: { model: 'm1' } } },
    { ...common, id: `${runId}.1.1`, at, actor: 'system', type: 'approval.requested', data: { kind: 'approval.request', stepId: 'approve', message: 'ok?' } },
    { ...common, id: `${runId}.2.0`, at: at + 1000, actor: 'U2APP', type: 'approval.granted', data: { type: 'approval.granted', stepId: 'approve', by: { id: 'U2APP' } } },
    { ...common, id: `${runId}.2.1`, at: at + 1000, actor: 'system', type: 'step.started', data: { kind: 'step.run', stepId: 'roll', executor: 'rollback', input: { model: 'm1' } } },
    ...(finished ? [{ ...common, id: `${runId}.3.1`, at: at + 2000, actor: 'system', type: 'run.finished', data: { kind: 'run.finished', status } }] : []),
  ];
}

describe.each(backends)('$name audit store', (backend) => {
  describe('when records are appended', () => {
    it('links seq 1..n and reads back exactly what append returned', async () => {
      const { store } = await backend.open();
      const first = await store.append(makeRecords(3));
      const second = await store.append(makeRecords(2, 'run-1', 4));
      expectLinked([...first, ...second]);
      expect(await store.list()).toEqual([...first, ...second]);
      expect(await store.head()).toEqual({ seq: 5, hash: second[1]?.hash });
      expect(await store.get(2)).toEqual(first[1]);
      expect(await store.get(99)).toBeUndefined();
      expect(await store.verify()).toEqual({ ok: true, count: 5 });
    });

    it('appends an id once, answering a retry with the stored record, in input order', async () => {
      const { store } = await backend.open();
      const [a, b] = await store.append(makeRecords(2));
      const again = await store.append([makeRecords(1, 'run-1', 3)[0]!, { ...makeRecords(1, 'run-1', 2)[0]!, data: { changed: true } }, makeRecords(1)[0]!, makeRecords(1)[0]!]);
      expect(again.map((r) => r.id)).toEqual(['run-1.3', 'run-1.2', 'run-1.1', 'run-1.1']);
      expect(again[1]).toEqual(b);
      expect(again[2]).toEqual(a);
      expect(again[0]).toMatchObject({ seq: 3, prevHash: b?.hash });
      expect(await store.list()).toHaveLength(3);
    });

    it('refuses a record without a meaningful actor and appends nothing of its batch', async () => {
      const { store } = await backend.open();
      const batch = [...makeRecords(2), { ...makeRecords(1, 'run-1', 3)[0]!, actor: 'alice' }];
      await expect(store.append(batch)).rejects.toMatchObject({ code: 'audit_record_invalid', retryable: false, message: expect.stringContaining("'cli:<user>'") });
      expect(await store.head()).toBeUndefined();
    });

    it('continues the same chain from another connection', async () => {
      const opened = await backend.open();
      await opened.store.append(makeRecords(2));
      const other = await opened.reopen();
      await other.append(makeRecords(2, 'run-1', 3));
      expectLinked(await opened.store.list());
    });
  });

  describe('when records are queried', () => {
    async function seeded() {
      const { store } = await backend.open();
      await store.append(runRecords('run-a', { incidentId: 'P1', at: 1_000_000 }));
      await store.append(runRecords('run-b', { runbookId: 'failover', at: 2_000_000, status: 'failed' }));
      await store.append(runRecords('run-c', { at: 3_000_000, finished: false }));
      return store;
    }

    it('filters by run, incident, runbook, actor, exact type and type prefix', async () => {
      const store = await seeded();
      expect((await store.list({ runId: 'run-b' })).map((r) => r.id)).toEqual(['run-b.1.0', 'run-b.1.1', 'run-b.2.0', 'run-b.2.1', 'run-b.3.1']);
      expect((await store.list({ incidentId: 'P1', type: 'run.started' })).map((r) => r.runId)).toEqual(['run-a']);
      expect((await store.list({ runbookId: 'failover', actor: 'U2APP' })).map((r) => r.id)).toEqual(['run-b.2.0']);
      expect((await store.list({ type: 'approval.' })).map((r) => r.type)).toEqual(Array(3).fill(['approval.requested', 'approval.granted']).flat());
      expect(await store.list({ type: 'approval.*' })).toEqual(await store.list({ type: 'approval.' }));
      expect(await store.list({ type: 'approval' })).toEqual([]);
    });

    it('filters by time range and pages with afterSeq and limit', async () => {
      const store = await seeded();
      expect((await store.list({ fromAt: 2_000_000, toAt: 2_001_000 })).map((r) => r.id)).toEqual(['run-b.1.0', 'run-b.1.1', 'run-b.2.0', 'run-b.2.1']);
      const page1 = await store.list({ limit: 4 });
      const page2 = await store.list({ limit: 4, afterSeq: page1.at(-1)!.seq });
      expect([...page1, ...page2].map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('rejects a malformed filter, naming every bad field', async () => {
      const store = await seeded();
      await expect(store.list({ limit: 0, type: 'Approval!', fromAt: -1 })).rejects.toMatchObject({
        code: 'audit_query_invalid', message: expect.stringMatching(/type: .*fromAt: .*limit: expected an integer from 1 to 10000, received 0/),
      });
    });

    it('summarises one row per run, newest first, with requester, times, status and incident', async () => {
      const store = await seeded();
      const runs = await store.runs();
      expect(runs.map((r) => [r.runId, r.status])).toEqual([['run-c', 'active'], ['run-b', 'failed'], ['run-a', 'succeeded']]);
      expect(runs[2]).toEqual({ runId: 'run-a', runbookId: 'rollback', runbookHash: 'b'.repeat(64), incidentId: 'P1', requester: 'U1REQ', startSeq: 1, startedAt: 1_000_000, finishedAt: 1_002_000, status: 'succeeded' });
      expect((await store.runs({ runbookId: 'failover' })).map((r) => r.runId)).toEqual(['run-b']);
      expect((await store.runs({ status: 'active' })).map((r) => r.runId)).toEqual(['run-c']);
      expect((await store.runs({ status: 'succeeded', requester: 'U1REQ' })).map((r) => r.runId)).toEqual(['run-a']);
      expect((await store.runs({ limit: 1, beforeSeq: runs[0]!.startSeq })).map((r) => r.runId)).toEqual(['run-b']);
    });
  });

  describe('when records are streamed', () => {
    it('yields every matching record in seq order across pages', async () => {
      const { store } = await backend.open();
      await store.append(makeRecords(1200, 'run-x'));
      await store.append(makeRecords(30, 'run-y'));
      const seqs: number[] = [];
      for await (const record of store.stream({ runId: 'run-x' })) seqs.push(record.seq);
      expect(seqs).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
      const limited: string[] = [];
      for await (const record of store.stream({ runId: 'run-y', limit: 5 })) limited.push(record.id);
      expect(limited).toEqual(['run-y.1', 'run-y.2', 'run-y.3', 'run-y.4', 'run-y.5']);
    });
  });

  describe('when a signing key is configured', () => {
    it('appends a digest right after a batch that finishes a run, once even when the batch is retried', async () => {
      const { store } = await backend.open({ signingKey: KEY });
      const records = runRecords('run-d');
      await store.append(records.slice(0, 4));
      expect(await store.list({ type: DIGEST_TYPE })).toEqual([]);
      const returned = await store.append(records.slice(4));
      expect(returned.map((r) => r.id)).toEqual(['run-d.3.1']);
      await store.append(records.slice(4));
      const digests = await store.list({ type: DIGEST_TYPE });
      expect(digests).toHaveLength(1);
      expect(digests[0]).toMatchObject({ id: 'run-d.3.1.digest', seq: 6, actor: 'system', data: { headSeq: 5, headHash: returned[0]!.hash, alg: 'ed25519', keyId: KEY.keyId, reason: 'run.finished' } });
      expect(await store.verify()).toEqual({ ok: true, count: 6, digests: { checked: 1, unchecked: 0, lastSeq: 6 } });
    });

    it('appends a periodic digest once per id, and none when the head is already a digest', async () => {
      const { store } = await backend.open({ signingKey: KEY });
      expect(await store.appendDigest({ id: 'digest.periodic.1' })).toBeUndefined();
      await store.append(makeRecords(2));
      const digest = await store.appendDigest({ id: 'digest.periodic.1', at: 5 });
      expect(digest).toMatchObject({ seq: 3, type: DIGEST_TYPE, data: { headSeq: 2, reason: 'periodic', signedAt: 5 } });
      expect(await store.appendDigest({ id: 'digest.periodic.1' })).toEqual(digest);
      expect(await store.appendDigest({ id: 'digest.periodic.2' })).toBeUndefined();
      expect((await store.verify()).ok).toBe(true);
    });

    it('verifies digests with the public key alone, and reports them unchecked without a key', async () => {
      const keys = generateDigestKeys('ed25519');
      const opened = await backend.open({ signingKey: parseDigestKey(keys.signingKey) });
      await opened.store.append(runRecords('run-e'));
      const plain = await opened.reopen();
      expect(await plain.verify({ key: parseDigestKey(keys.verifyKey) })).toMatchObject({ ok: true, digests: { checked: 1, unchecked: 0 } });
      expect(await plain.verify()).toMatchObject({ ok: true, digests: { checked: 0, unchecked: 1 } });
      expect(await plain.verify({ key: KEY })).toMatchObject({ ok: false, reason: 'digest_invalid', firstBadSeq: 6, detail: expect.stringContaining('not by the configured ed25519 key') });
    });
  });

  describe('without a signing key', () => {
    it('appends no digest and answers appendDigest with undefined', async () => {
      const { store } = await backend.open();
      await store.append(runRecords('run-f'));
      expect(await store.appendDigest({ id: 'digest.periodic.9' })).toBeUndefined();
      expect(await store.verify()).toEqual({ ok: true, count: 5 });
    });
  });

  describe('when the store is closed', () => {
    it('closes idempotently and then rejects with audit_store_closed', async () => {
      const { store } = await backend.open();
      await store.close();
      await store.close();
      await expect(store.append(makeRecords(1))).rejects.toMatchObject({ code: 'audit_store_closed', retryable: false });
      await expect(store.list()).rejects.toMatchObject({ code: 'audit_store_closed' });
    });
  });
});

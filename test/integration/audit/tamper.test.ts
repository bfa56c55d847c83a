import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/audit/canonical-json.ts';
import { DIGEST_TYPE, generateDigestKeys, parseDigestKey } from '../../../src/audit/digest.ts';
import { hashAuditRecord, type AuditRecord, type AuditRecordInput } from '../../../src/audit/record.ts';
import { main } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { allBackends, type OpenedStore } from './backends.ts';
import { makeRecords } from './store-fixtures.ts';

const backends = allBackends();
afterEach(async () => { for (const backend of backends) await backend.cleanup(); });
afterAll(async () => { for (const backend of backends) await backend.close(); });

const SIGNING_KEY = generateDigestKeys('ed25519').signingKey;
const KEY = parseDigestKey(SIGNING_KEY);

function finishedRun(runId: string): AuditRecordInput[] {
  return [
    ...makeRecords(4, runId),
    { id: `${runId}.end`, at: 1_700_000_100_000, runId, actor: 'system', type: 'run.finished', data: { kind: 'run.finished', status: 'succeeded' } },
  ];
}

/**
 * seq 1-5 run-a, 6 its digest, 7-11 run-b, 12 its digest, 13-15 an unfinished run-c.
 */
async function seeded(open: () => Promise<OpenedStore>): Promise<OpenedStore> {
  const opened = await open();
  await opened.store.append(finishedRun('run-a'));
  await opened.store.append(finishedRun('run-b'));
  await opened.store.append(makeRecords(3, 'run-c'));
  return opened;
}

/** Runs `runbook audit verify` in-process against the store; returns exit code and output. */
async function cliVerify(opened: OpenedStore): Promise<{ code: number; out: string }> {
  let out = '';
  const io: CliIo = { stdout: (text) => { out += text; }, stderr: (text) => { out += text; }, env: { ...opened.env, AUDIT_SIGNING_KEY: SIGNING_KEY }, cwd: process.cwd() };
  const code = await main(['audit', 'verify', '--format', 'json'], io);
  return { code, out };
}

/** A sealed record placed after `previous` with fresh, self-consistent hashes. */
function forge(previous: AuditRecord, input: AuditRecordInput): AuditRecord {
  const unsealed = { ...input, seq: previous.seq + 1, prevHash: previous.hash };
  return { ...unsealed, hash: hashAuditRecord(unsealed) };
}

const INSERT = 'INSERT INTO {records} (seq, id, at, run_id, actor, type, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
const insertParams = (r: AuditRecord) => [r.seq, r.id, r.at, r.runId ?? null, r.actor, r.type, canonicalJson(r.data), r.prevHash, r.hash];

describe.each(backends)('$name audit store under tampering', (backend) => {
  const open = () => backend.open({ signingKey: KEY });

  describe('when nothing was touched', () => {
    it('verifies, checks both digests, and the CLI exits 0', async () => {
      const opened = await seeded(open);
      expect(await opened.store.verify()).toEqual({ ok: true, count: 15, digests: { checked: 2, unchecked: 0, lastSeq: 12 } });
      expect(await cliVerify(opened)).toMatchObject({ code: 0 });
    });
  });

  describe('when a field was changed', () => {
    it('is detected at that record as hash_mismatch, and the CLI exits 1 naming it', async () => {
      const opened = await seeded(open);
      await opened.tamper("UPDATE {records} SET actor = 'U9MALLORY' WHERE seq = 3");
      expect(await opened.store.verify()).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'hash_mismatch' });
      const cli = await cliVerify(opened);
      expect(cli.code).toBe(1);
      expect(JSON.parse(cli.out)).toMatchObject({ ok: false, firstBadSeq: 3, reason: 'hash_mismatch' });
    });
  });

  describe('when a record was deleted', () => {
    it('is detected as a sequence_gap at the missing seq', async () => {
      const opened = await seeded(open);
      await opened.tamper('DELETE FROM {records} WHERE seq = 4');
      expect(await opened.store.verify()).toMatchObject({ ok: false, count: 3, firstBadSeq: 4, reason: 'sequence_gap' });
      expect(await cliVerify(opened)).toMatchObject({ code: 1, out: expect.stringContaining('"firstBadSeq": 4') });
    });
  });

  describe('when two records were swapped', () => {
    it('is detected at the first of the two', async () => {
      const opened = await seeded(open);
      await opened.tamper('UPDATE {records} SET seq = -seq WHERE seq IN (3, 4); UPDATE {records} SET seq = 4 WHERE seq = -3; UPDATE {records} SET seq = 3 WHERE seq = -4');
      expect(await opened.store.verify()).toMatchObject({ ok: false, count: 2, firstBadSeq: 3, reason: 'hash_mismatch' });
      expect(await cliVerify(opened)).toMatchObject({ code: 1, out: expect.stringContaining('"firstBadSeq": 3') });
    });
  });

  describe('when a record was inserted', () => {
    it('is detected where the chain no longer holds: the record the insert displaced', async () => {
      const opened = await seeded(open);
      const third = (await opened.store.get(3))!;
      const forged = forge(third, { id: 'forged.approval', at: third.at, runId: 'run-a', actor: 'U9MALLORY', type: 'approval.granted', data: { stepId: 'approve' } });
      await opened.tamper('UPDATE {records} SET seq = -(seq + 1) WHERE seq >= 4; UPDATE {records} SET seq = -seq WHERE seq < 0');
      await opened.tamper(INSERT, ...insertParams(forged));
      expect(await opened.store.verify()).toMatchObject({ ok: false, count: 4, firstBadSeq: 5, reason: 'hash_mismatch', detail: expect.stringContaining('run-a.4') });
      expect(await cliVerify(opened)).toMatchObject({ code: 1, out: expect.stringContaining('"firstBadSeq": 5') });
    });
  });

  describe('when the tail was cut off past a digest', () => {
    it('is detected as truncated: the chain no longer reaches the digest', async () => {
      const opened = await seeded(open);
      await opened.tamper('DELETE FROM {records} WHERE seq >= 10');
      expect(await opened.store.verify()).toMatchObject({ ok: false, count: 9, firstBadSeq: 10, reason: 'truncated', detail: expect.stringContaining('digest was appended at seq 12') });
      expect(await cliVerify(opened)).toMatchObject({ code: 1, out: expect.stringContaining('"reason": "truncated"') });
    });

    it('is detected when the chain was cut and re-extended with forged records', async () => {
      const opened = await seeded(open);
      await opened.tamper('DELETE FROM {records} WHERE seq >= 12');
      let previous = (await opened.store.get(11))!;
      for (let n = 0; n < 3; n += 1) {
        previous = forge(previous, { id: `forged.${n}`, at: 1, actor: 'system', type: 'step.succeeded', data: { n } });
        await opened.tamper(INSERT, ...insertParams(previous));
      }
      expect(await opened.store.verify()).toMatchObject({ ok: false, firstBadSeq: 12, reason: 'digest_anchor_mismatch' });
    });
  });

  describe('when a digest was forged', () => {
    it('is detected when its signature does not verify', async () => {
      const opened = await seeded(open);
      const head = (await opened.store.get(15))!;
      const genuine = (await opened.store.get(12))!;
      const fake = forge(head, { id: 'digest.periodic.forged', at: 2, actor: 'system', type: DIGEST_TYPE, data: { ...(genuine.data as object), headSeq: 15, headHash: head.hash, signedAt: 2 } });
      await opened.tamper(INSERT, ...insertParams(fake));
      expect(await opened.store.verify()).toMatchObject({ ok: false, count: 15, firstBadSeq: 16, reason: 'digest_invalid', detail: expect.stringContaining('signature does not verify') });
      expect(await cliVerify(opened)).toMatchObject({ code: 1, out: expect.stringContaining('"reason": "digest_invalid"') });
    });

    it('is detected when it signs a hash other than the record before it', async () => {
      const opened = await seeded(open);
      const head = (await opened.store.get(15))!;
      const mallory = parseDigestKey(generateDigestKeys('ed25519').signingKey);
      const payload = { alg: 'ed25519', keyId: KEY.keyId, headSeq: 15, headHash: 'f'.repeat(64), signedAt: 3, reason: 'periodic', signature: mallory.sign('x') };
      await opened.tamper(INSERT, ...insertParams(forge(head, { id: 'digest.periodic.wrong', at: 3, actor: 'system', type: DIGEST_TYPE, data: payload })));
      expect(await opened.store.verify()).toMatchObject({ ok: false, firstBadSeq: 16, reason: 'digest_invalid', detail: expect.stringContaining('signs seq 15 hash ffffffffffff') });
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { DIGEST_TYPE, generateDigestKeys, parseDigestKey } from '../../../src/audit/digest.ts';
import { startDigestTimer, type DigestTimer } from '../../../src/audit/digest-timer.ts';
import { openSqliteAuditStore } from '../../../src/audit/sqlite-store.ts';
import { makeRecords } from './store-fixtures.ts';

const timers: DigestTimer[] = [];
afterEach(async () => { for (const timer of timers.splice(0)) await timer.stop(); });

describe('startDigestTimer', () => {
  describe('when two workers tick in the same period', () => {
    it('appends one periodic digest for the period, and a new one in the next period after new records', async () => {
      const store = openSqliteAuditStore({ path: ':memory:', signingKey: parseDigestKey(generateDigestKeys('hmac-sha256').signingKey) });
      await store.append(makeRecords(3));
      let now = 7_200_000;
      const a = startDigestTimer({ store, intervalMs: 3_600_000, now: () => now });
      const b = startDigestTimer({ store, intervalMs: 3_600_000, now: () => now + 1 });
      timers.push(a, b);
      await a.tick();
      await b.tick();
      expect((await store.list({ type: DIGEST_TYPE })).map((r) => r.id)).toEqual(['digest.periodic.2']);
      now += 3_600_000;
      await a.tick();
      expect(await store.list({ type: DIGEST_TYPE })).toHaveLength(1); // head is already a digest: nothing new to sign
      await store.append(makeRecords(1, 'run-1', 4));
      await b.tick();
      expect((await store.list({ type: DIGEST_TYPE })).map((r) => r.id)).toEqual(['digest.periodic.2', 'digest.periodic.3']);
      expect((await store.verify()).ok).toBe(true);
      await a.stop();
      await b.stop();
      await store.close();
    });
  });
});

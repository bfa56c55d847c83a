/**
 * Run ids: ULIDs (26 characters, Crockford base32), sortable by creation time, no `:` (BullMQ
 * job ids embed them), never all digits.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
let lastRandom: number[] = [];

/** A new ULID; monotonic within one process even when called twice in one millisecond. */
export function newRunId(now = Date.now()): string {
  if (now === lastTime) {
    for (let i = lastRandom.length - 1; i >= 0; i -= 1) {
      lastRandom[i] = ((lastRandom[i] ?? 0) + 1) % 32;
      if (lastRandom[i] !== 0) break;
    }
  } else {
    lastTime = now;
    lastRandom = [...randomBytes(16)].map((b) => b % 32);
  }
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i += 1) {
    time = (ALPHABET[t % 32] ?? '0') + time;
    t = Math.floor(t / 32);
  }
  return time + lastRandom.map((n) => ALPHABET[n] ?? '0').join('');
}

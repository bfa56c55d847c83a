import { execFileSync } from 'node:child_process';
import { shapes } from './shapes.mjs';
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(shapes);
function run(name, d) {
  try {
    const out = execFileSync('node', ['.scratch-guard/one.mjs', name, String(d)], { timeout: 20000, encoding: 'utf8' }).trim();
    return out;
  } catch (e) { return 'TIMEOUT/CRASH ' + (e.signal ?? e.status); }
}
for (const name of names) {
  // find first failing depth by doubling then bisect
  let lo = 1, hi = 1, res;
  const log = [];
  for (;;) { res = run(name, hi); log.push(`${hi}:${res}`); if (!res.startsWith('ok') || hi >= 200000) break; lo = hi; hi *= 2; }
  if (res.startsWith('ok')) { console.log(name, 'no failure up to', hi, log.slice(-3).join(' | ')); continue; }
  while (hi - lo > 1) { const m = (lo + hi) >> 1; const r = run(name, m); if (r.startsWith('ok')) lo = m; else { hi = m; res = r; } }
  console.log(name, 'max ok depth', lo, 'first failing', hi, '->', res, '| last ok time', log.slice(-2, -1).join(''));
}

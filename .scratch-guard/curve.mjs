import { execFileSync } from 'node:child_process';
import { shapes } from './shapes.mjs';
const [name, ...ds] = process.argv.slice(2);
for (const d of ds) {
  let out;
  try { out = execFileSync('node', ['.scratch-guard/one.mjs', name, d], { timeout: 30000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); }
  catch (e) { out = 'TIMEOUT/CRASH ' + (e.signal ?? e.status); }
  console.log(name, d, 'chars', shapes[name](Number(d)).length, out);
}

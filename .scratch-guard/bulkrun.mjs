import { execFileSync } from 'node:child_process';
import { bulk } from './bulk.mjs';
const sizes = process.argv[2].split(',');
const names = process.argv.slice(3).length ? process.argv.slice(3) : Object.keys(bulk);
const limit = Number(process.env.TO ?? 20000);
for (const name of names) {
  const row = [];
  for (const n of sizes) {
    let out;
    try { out = execFileSync('node', ['--max-old-space-size=4096', '.scratch-guard/bone.mjs', name, n], { timeout: limit, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); }
    catch (e) { out = e.signal === 'SIGTERM' ? `TIMEOUT>${limit}ms` : 'CRASH ' + (e.signal ?? e.status); }
    row.push(`${n}: ${out}`);
  }
  console.log(name.padEnd(26), row.join(' | '));
}

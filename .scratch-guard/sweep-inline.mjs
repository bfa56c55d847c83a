import { marked } from 'marked';
const alpha = ['*', '_', '~', '!', '`', '[', ']', '(', ')', '<', '>', '\\', 'a', ' ', '@', ':', '&', '"', '|', '\n'];
const fill = (u, n) => u.repeat(Math.ceil(n / u.length)).slice(0, n);
function time(src) { const t = performance.now(); try { marked.lexer(src); } catch (e) { return -1; } return performance.now() - t; }
const units = new Set();
for (const a of alpha) for (const b of alpha) { units.add(a + b); for (const c of alpha) units.add(a + b + c); }
// random length-4/5 units
let seed = 1; const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let i = 0; i < 3000; i++) { let u = ''; const L = 4 + Math.floor(rnd() * 3); for (let j = 0; j < L; j++) u += alpha[Math.floor(rnd() * alpha.length)]; units.add(u); }
const N1 = 10000, N2 = 40000;
const sus = [];
for (const u of units) {
  if (!/[^ \n]/.test(u)) continue;
  const t1 = time(fill(u, N1));
  if (t1 < 0) { console.log('THROW', JSON.stringify(u)); continue; }
  if (t1 > 15) { const t2 = time(fill(u, N2)); if (t2 / Math.max(t1, 1) > 6 || t2 > 300) sus.push([u, t1, t2]); }
}
sus.sort((x, y) => y[2] - x[2]);
for (const [u, t1, t2] of sus.slice(0, 80)) console.log(JSON.stringify(u).padEnd(12), t1.toFixed(0), t2.toFixed(0));
console.log('units', units.size, 'suspicious', sus.length);

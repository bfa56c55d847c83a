import { marked } from 'marked';
import { bulk } from './bulk.mjs';
const [name, n] = [process.argv[2], Number(process.argv[3])];
const src = bulk[name](n);
const t = performance.now();
try { const toks = marked.lexer(src); console.log('ok', (performance.now() - t).toFixed(0) + 'ms', 'tokens', toks.length); }
catch (e) { console.log((e instanceof RangeError ? 'RangeError ' : 'err ') + e.message.slice(0, 60), (performance.now() - t).toFixed(0) + 'ms'); }

import { marked } from 'marked';
import { shapes } from './shapes.mjs';
const [name, d] = [process.argv[2], Number(process.argv[3])];
const src = shapes[name](d);
const t = performance.now();
try { marked.lexer(src); console.log('ok', (performance.now() - t).toFixed(1)); }
catch (e) { console.log(e instanceof RangeError ? 'RangeError' : 'err:' + e.message.slice(0, 80), (performance.now() - t).toFixed(1)); }

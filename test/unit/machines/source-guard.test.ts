import { Lexer } from 'marked';
import { describe, expect, it } from 'vitest';
import { parseRunbook } from '../../../src/machines/parse.ts';
import { checkSource, SOURCE_LIMITS } from '../../../src/machines/source-guard.ts';

const lex = (text: string) => new Lexer({ gfm: true }).lex(text);
const { maxNestingDepth: depth, maxDelimitersPerParagraph: delimiters } = SOURCE_LIMITS;

/** Shapes that overflow marked's stack or cost it super-linear time when deep enough. */
const shapes: Record<string, (n: number) => string> = {
  'quote markers on one line': (n) => `${'>'.repeat(n)} x\n`,
  'quote depth growing line by line': (n) => Array.from({ length: n }, (_, i) => `${'>'.repeat(i + 1)} x`).join('\n'),
  'list markers on one line': (n) => `${'- '.repeat(n)}x\n`,
  'quotes and lists mixed': (n) => `${'> - '.repeat(Math.ceil(n / 2))}x\n`,
  'list nested by indentation': (n) => Array.from({ length: n }, (_, i) => `${'  '.repeat(i)}- x`).join('\n'),
};

describe('checkSource', () => {
  describe('when the text is ordinary Markdown', () => {
    it('accepts it untouched but for line endings and a BOM', () => {
      const text = '\uFEFF# T\r\n\r\n## Step\r\n> quote\r\n\r\n- a\r\n  - b\r\n    - c\r\n      - d\r\n\r\n| a | b |\r\n|---|---|\r\n| 1 | 2 |\r\n```sh\r\necho *hi*\r\n```\r\n';
      const result = checkSource('ok.md', text);
      expect(result).toMatchObject({ lexable: true, diagnostics: [] });
      expect(result.text).toBe(text.slice(1).replace(/\r\n/g, '\n'));
    });
  });

  describe('when the file is empty or blank', () => {
    it.each(['', '   \n\n\t\n'])('reports empty-runbook for %j', (text) => {
      expect(checkSource('e.md', text)).toMatchObject({ lexable: false, diagnostics: [{ code: 'empty-runbook', location: { line: 1, column: 1 } }] });
    });
  });

  describe('when the file is binary', () => {
    it('reports not-text at the first NUL byte', () => {
      const result = checkSource('b.md', '# T\n\nab\u0000cd');
      expect(result).toMatchObject({ lexable: false, diagnostics: [{ code: 'not-text', location: { line: 3, column: 3 }, found: 'a NUL byte' }] });
    });

    it('reports garbage full of undecodable bytes', () => {
      const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('utf8');
      expect(checkSource('g.md', garbage).diagnostics[0]?.code).toBe('not-text');
    });

    it('tolerates a stray replacement character in real text', () => {
      expect(checkSource('t.md', `# T\n\n${'word '.repeat(200)}\uFFFD\n`).lexable).toBe(true);
    });
  });

  describe('when the file is huge', () => {
    it('refuses a 10 MB file without scanning it', () => {
      const huge = `# T\n\n${'a'.repeat(10 * 1024 * 1024)}`;
      const result = checkSource('huge.md', huge);
      expect(result).toMatchObject({ lexable: false, diagnostics: [{ code: 'too-large', location: { line: 1, column: 1 } }] });
      expect(result.diagnostics[0]?.found).toContain('10,485,765');
    });

    it('accepts and lexes a file just under the cap', () => {
      const paragraph = 'Some *emphasis* and a [link](https://x.internal) and `code`.\n\n';
      const text = `# T\n\n## Step\n${paragraph.repeat(Math.floor((SOURCE_LIMITS.maxChars - 20) / paragraph.length))}`;
      expect(text.length).toBeLessThan(SOURCE_LIMITS.maxChars);
      expect(checkSource('big.md', text).lexable).toBe(true);
      expect(lex(text).length).toBeGreaterThan(1000);
    }, 60_000);
  });

  describe.each(Object.entries(shapes))('when %s', (_name, shape) => {
    it('refuses one level past the limit with too-deeply-nested', () => {
      const result = checkSource('deep.md', shape(depth + 2));
      expect(result.lexable).toBe(false);
      expect(result.diagnostics[0]).toMatchObject({ code: 'too-deeply-nested', expected: expect.stringContaining('at most') });
    });

    it('refuses 10,000 levels (too deep, or too large before that)', () => {
      const result = checkSource('deep.md', shape(10_000));
      expect(result.lexable).toBe(false);
      expect(['too-deeply-nested', 'too-large']).toContain(result.diagnostics[0]?.code);
    });

    it('lets marked lex the deepest accepted document without trouble', () => {
      const allowed = shape(depth);
      expect(checkSource('ok.md', allowed).lexable).toBe(true);
      expect(() => lex(allowed)).not.toThrow();
    });
  });

  describe('when a paragraph holds thousands of emphasis markers', () => {
    it('refuses past the limit and lexes at the limit', () => {
      const pairs = (n: number) => `${'*a '.repeat(n)}x${' b*'.repeat(n)}\n`;
      expect(checkSource('em.md', pairs(delimiters)).diagnostics[0]?.code).toBe('too-deeply-nested');
      const allowed = pairs(delimiters / 2);
      expect(checkSource('em.md', allowed).lexable).toBe(true);
      expect(() => lex(allowed)).not.toThrow();
    });

    it('counts per paragraph, so a long document of short paragraphs is fine', () => {
      expect(checkSource('many.md', '*a* _b_ ~c~\n\n'.repeat(5_000)).lexable).toBe(true);
    });
  });

  describe('when a code fence is never closed in a large file', () => {
    it('still parses, reporting the fence, in bounded time', () => {
      const text = `## Step\n\`\`\`run\nargv: [a]\n${'line\n'.repeat(100_000)}`;
      const doc = parseRunbook('open.md', text, { executors: new Set(['run']) });
      expect(doc.diagnostics.map((d) => d.code)).toContain('unclosed-fence');
    });
  });
});

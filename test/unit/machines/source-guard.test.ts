import { marked } from 'marked';
import { describe, expect, it } from 'vitest';
import { checkSource, SOURCE_LIMITS } from '../../../src/machines/source-guard.ts';

const { maxBytes, maxLines, maxNestingDepth, maxEmphasisMarkers } = SOURCE_LIMITS;

/** `unit` repeated and cut to exactly `length` characters. */
const fill = (unit: string, length: number): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

/** 1-based column of the n-th occurrence (1-based) of `char` on the line. */
function columnOfNth(line: string, char: string, n: number): number {
  let index = -1;
  for (let seen = 0; seen < n; seen++) index = line.indexOf(char, index + 1);
  return index + 1;
}

/** C0 controls other than tab, line feed, form feed and carriage return, and DEL. */
const isControl = (code: number): boolean => (code < 0x20 && ![0x09, 0x0a, 0x0c, 0x0d].includes(code)) || code === 0x7f;

/** Checks the text, expects the guard to let it through, and lexes it as the parser would. */
function expectAcceptedAndLexed(text: string): void {
  const result = checkSource('ok.md', text);
  expect(result.diagnostics).toEqual([]);
  expect(result.lexable).toBe(true);
  expect(() => marked.lexer(result.text)).not.toThrow();
}

/**
 * Block quote and list shapes that overflow marked's stack when deep enough (measured, cold
 * process: 1,734 quotes, 1,134 lists, 685 quote+list pairs; indentation-nested lists run out of
 * time first). Each gives the text at a depth, and where the first level past the limit is.
 */
interface ContainerShape {
  text: (depth: number) => string;
  overAt: { line: number; column: number };
  /** A hostile depth whose text stays under the size cap (line-per-level shapes grow as depth²). */
  hostileDepth: number;
}

const CONTAINER_SHAPES: Record<string, ContainerShape> = {
  'block quotes on one line': { text: (d) => `${'>'.repeat(d)} x\n`, overAt: { line: 1, column: maxNestingDepth + 1 }, hostileDepth: 10_000 },
  'spaced block quotes on one line': { text: (d) => `${'> '.repeat(d)}x\n`, overAt: { line: 1, column: 2 * maxNestingDepth + 1 }, hostileDepth: 10_000 },
  'bullet lists on one line': { text: (d) => `${'- '.repeat(d)}x\n`, overAt: { line: 1, column: 2 * maxNestingDepth + 1 }, hostileDepth: 10_000 },
  'ordered lists on one line': { text: (d) => `${'1. '.repeat(d)}x\n`, overAt: { line: 1, column: 3 * maxNestingDepth + 1 }, hostileDepth: 10_000 },
  'quotes and lists alternating': {
    text: (d) => `${Array.from({ length: d }, (_, i) => (i % 2 === 0 ? '> ' : '- ')).join('')}x\n`,
    overAt: { line: 1, column: 2 * maxNestingDepth + 1 },
    hostileDepth: 10_000,
  },
  'lists nested by indentation': {
    text: (d) => Array.from({ length: d }, (_, i) => `${'  '.repeat(i)}- item ${i + 1}`).join('\n'),
    overAt: { line: maxNestingDepth + 1, column: 2 * maxNestingDepth + 1 },
    hostileDepth: 1_000,
  },
  'block quotes deepening line by line': {
    text: (d) => Array.from({ length: d }, (_, i) => `${'>'.repeat(i + 1)} x`).join('\n'),
    overAt: { line: maxNestingDepth + 1, column: maxNestingDepth + 1 },
    hostileDepth: 1_000,
  },
};

/**
 * Emphasis shapes that overflow marked's stack: 1,090–1,310 nested levels (2 markers each), or a
 * run of 1,748 `*` on each side. Each gives the text for a number of markers (even).
 */
const EMPHASIS_SHAPES: Record<string, { text: (markers: number) => string; marker: string }> = {
  'nested `*` emphasis': { text: (m) => `${'*a '.repeat(m / 2)}x${' b*'.repeat(m / 2)}`, marker: '*' },
  'nested `_` emphasis': { text: (m) => `${'_a '.repeat(m / 2)}x${' b_'.repeat(m / 2)}`, marker: '_' },
  'nested `~` strikethrough': { text: (m) => `${'~a '.repeat(m / 2)}x${' b~'.repeat(m / 2)}`, marker: '~' },
  'runs of `*` around a word': { text: (m) => `${'*'.repeat(m / 2)}x${'*'.repeat(m / 2)}`, marker: '*' },
};

/**
 * Shapes on which marked is super-linear (measured: `a\n-|-\n` 50 KB 7.9 s; lazy list lines 200 KB
 * 25 s; `- a` with lazy lines between blank lines 1 MB 41 s; `_a#` 8 KB 6.4 s; the word `a_a_…`
 * 80 KB 6.3 s; a URL ending in 80,000 `?` 6.7 s; 32-deep lists, many lines: ~10 µs a level a line).
 */
const SLOW_SHAPES: Record<string, (length: number) => string> = {
  'a table head retried on every line': (n) => fill('a\n-|-\n', n),
  'a list item with lazy continuation lines': (n) => `- item\n${fill('lazy continuation line\n', n)}`,
  'lazy lines in a list item spanning blank lines': (n) => `- a\n${fill('  b\n\n  c\nlazy\n', n)}`,
  'unmatched emphasis in paragraphs': (n) => fill(`${fill('_a#', 300)}\n\n`, n),
  'one long word of underscores': (n) => fill('a_', n),
  'a URL followed by question marks': (n) => `http://a.example/${fill('?', n)}`,
  'many lines nested 32 deep': (n) => fill(`${'- '.repeat(maxNestingDepth)}x\n\n`, n),
};

/** A realistic runbook section, repeated to make big files. */
const SECTION = [
  '## Check the deployment {#check}',
  '',
  'Look at the **current** version with `kubectl get deploy web -n production -o wide` and compare it with the',
  'release notes; if the [dashboard](https://grafana.example.com/d/abc?orgId=1&var-env=prod) is red, stop here.',
  '',
  '```ssm',
  'document: AWS-RunShellScript',
  'parameters:',
  '  commands: ["systemctl status web", "journalctl -u web --since -10m"]',
  '```',
  '',
  '- first check the load balancer',
  '  - then the *targets* behind it',
  '',
  '| region | status |',
  '|--------|--------|',
  '| eu-1   | ok     |',
  '',
  '> Note: rolling back takes about ten minutes; tell the channel before you start.',
  '',
  '',
].join('\n');

describe('checkSource', () => {
  describe('when the text is ordinary Markdown', () => {
    it('accepts headings, fences, lists nested 4 deep, tables, quotes and emphasis with no diagnostics', () => {
      const text = [
        '---',
        'title: Roll back a model',
        'params: { model: { type: string } }',
        '---',
        '# Roll back a model deployment',
        '',
        'Use this when *error rates* rise after a deploy; see **the [guide](https://example.com/a_b_c)**.',
        '',
        '## Check what is serving {#current}',
        '',
        '- level one',
        '  - level two',
        '    - level three',
        '      - level four with `inline code` and ~~strike~~',
        '1. ordered',
        '2. list',
        '',
        '> A quote',
        '> > and a nested quote',
        '',
        '| model | version |',
        '| ----- | ------- |',
        '| `ranker` | 1.2.3 |',
        '',
        '```bash',
        'kubectl get pods -l app=ranker_v2 | grep -v Running || echo "all *running*"',
        '```',
        '',
        '<details><summary>More</summary>',
        '',
        'Hidden text.',
        '',
        '</details>',
        '',
      ].join('\n');
      expectAcceptedAndLexed(text);
    });

    it('returns the text with the BOM stripped and \\r\\n and \\r turned into \\n', () => {
      const result = checkSource('crlf.md', '\uFEFF# T\r\n\r\n## Step\rText\r\n');
      expect(result).toMatchObject({ text: '# T\n\n## Step\nText\n', diagnostics: [], lexable: true });
    });

    it('accepts an unclosed fence in a big file, which marked lexes as one code block', () => {
      // Measured: an unclosed fence over 1 MB lexes in 5 ms (the parser, not the guard, reports it).
      const script = 'echo "checking the web service on every host in the pool"\n'.repeat(3);
      const text = `## Step\n\n\`\`\`bash\n${fill(`${script}\n`, maxBytes - 20)}`;
      const result = checkSource('fence.md', text);
      expect(result).toMatchObject({ diagnostics: [], lexable: true });
      const tokens = marked.lexer(result.text);
      expect(tokens.map((t) => t.type)).toEqual(['heading', 'space', 'code']);
    });
  });

  describe('when the file is empty or only whitespace', () => {
    it.each([
      ['', 'an empty file'],
      ['\uFEFF', 'an empty file'],
      ['  \n\n\t \n', 'only whitespace'],
    ])('reports empty-runbook at 1:1 for %j, and leaves it lexable', (text, found) => {
      expect(checkSource('empty.md', text)).toEqual({
        text: text.replace('\uFEFF', ''),
        lexable: true,
        diagnostics: [{
          severity: 'error',
          code: 'empty-runbook',
          message: 'the file is empty: a runbook needs at least one `##` step',
          location: { file: 'empty.md', line: 1, column: 1 },
          expected: 'at least one `##` step',
          found,
        }],
      });
    });
  });

  describe('when the file is not text', () => {
    it('reports not-text at the first NUL character', () => {
      const result = checkSource('nul.md', '# Title\r\n\r\nab\u0000cd\n');
      expect(result.lexable).toBe(false);
      expect(result.diagnostics).toEqual([{
        severity: 'error',
        code: 'not-text',
        message: 'the file does not look like a Markdown text file',
        location: { file: 'nul.md', line: 3, column: 3 },
        expected: 'UTF-8 Markdown text',
        found: 'a NUL character (U+0000)',
      }]);
    });

    it('reports not-text for random bytes read as UTF-8, at the first offending character', () => {
      let seed = 42;
      const bytes = Uint8Array.from({ length: 4096 }, () => 1 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 255));
      const result = checkSource('random.bin', new TextDecoder().decode(bytes));
      expect(result.lexable).toBe(false);
      const first = [...result.text.slice(0, 200)].findIndex((c) => c === '\uFFFD' || isControl(c.charCodeAt(0)));
      const before = [...result.text.slice(0, 200)].slice(0, first).join('');
      expect(result.diagnostics).toEqual([expect.objectContaining({
        code: 'not-text',
        location: { file: 'random.bin', line: before.split('\n').length, column: before.length - before.lastIndexOf('\n') },
      })]);
    });

    it('reports not-text when control characters make up a large share', () => {
      const result = checkSource('ctl.md', `# T\n\n${'a\u0001'.repeat(50)}`);
      expect(result.diagnostics[0]).toMatchObject({ code: 'not-text', location: { line: 3, column: 2 } });
    });

    it('accepts text with a few replacement characters or escape codes', () => {
      expectAcceptedAndLexed(`# Caf\uFFFD\n\n${'Some prose about the service. '.repeat(20)}\n\n\u001b[31mERROR\u001b[0m in the log\n`);
    });
  });

  describe('when the file is too large', () => {
    it('refuses a 10 MB file at 1:1 without normalising it', () => {
      // Measured: 0.1 ms, since only the length is read.
      const text = fill(`${SECTION}\r\n`, 10_000_000);
      const result = checkSource('huge.md', text);
      expect(result.lexable).toBe(false);
      expect(result.text).toBe(text);
      expect(result.diagnostics).toEqual([{
        severity: 'error',
        code: 'too-large',
        message: 'the file is too large to be a runbook',
        location: { file: 'huge.md', line: 1, column: 1 },
        expected: 'at most 1,048,576 characters',
        found: '10,000,000 characters',
      }]);
    });

    it('accepts a realistic file just under the size cap, and marked lexes it', () => {
      // Measured on 2 cores (35,844 lines): the guard takes 60–170 ms and marked.lexer 0.3–0.8 s.
      const text = fill(SECTION, maxBytes - 10);
      expectAcceptedAndLexed(text);
    }, 60_000);

    it('refuses one character over the size cap', () => {
      expect(checkSource('big.md', fill(SECTION, maxBytes + 1)).diagnostics[0]?.code).toBe('too-large');
    });

    it('refuses more lines than the line cap, at 1:1', () => {
      const lines = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'a' : '')).join('\n');
      expect(checkSource('lines.md', lines(maxLines)).lexable).toBe(true);
      expect(checkSource('lines.md', lines(maxLines + 1)).diagnostics).toEqual([expect.objectContaining({
        code: 'too-large',
        location: { file: 'lines.md', line: 1, column: 1 },
        expected: 'at most 50,000 lines',
        found: '50,001 lines',
      })]);
    });
  });

  describe('when block quotes or lists are nested', () => {
    describe.each(Object.entries(CONTAINER_SHAPES))('as %s', (_name, shape) => {
      it('accepts the maximum depth, and marked lexes it', () => {
        expectAcceptedAndLexed(shape.text(maxNestingDepth));
      });

      it('refuses one level more where that level starts', () => {
        const result = checkSource('deep.md', shape.text(maxNestingDepth + 1));
        expect(result.lexable).toBe(false);
        expect(result.diagnostics).toEqual([{
          severity: 'error',
          code: 'too-deeply-nested',
          message: 'block quotes and lists are nested too deeply for the Markdown lexer',
          location: { file: 'deep.md', ...shape.overAt },
          expected: `at most ${maxNestingDepth} levels of block quotes and lists`,
          found: `${maxNestingDepth + 1} levels`,
        }]);
      });

      it(`refuses hostile depths (10,000 on one line) with a single diagnostic`, () => {
        const result = checkSource('deep.md', shape.text(shape.hostileDepth));
        expect(result.lexable).toBe(false);
        expect(result.diagnostics).toEqual([expect.objectContaining({ code: 'too-deeply-nested', location: { file: 'deep.md', ...shape.overAt } })]);
      }, 30_000);
    });

    it('also counts lines that only look like code, since marked may not treat them as code', () => {
      // Four spaces make this an indented code block, not a fence: the quotes after it are real.
      const result = checkSource('fake-fence.md', `    \`\`\`\n${'>'.repeat(10_000)} x\n`);
      expect(result.diagnostics[0]).toMatchObject({ code: 'too-deeply-nested', location: { line: 2 } });
    });

  });

  describe('when a paragraph has many emphasis markers', () => {
    describe.each(Object.entries(EMPHASIS_SHAPES))('as %s', (_name, shape) => {
      it('accepts the maximum number of markers, and marked lexes it', () => {
        expectAcceptedAndLexed(`# T\n\n${shape.text(maxEmphasisMarkers)}\n`);
      });

      it('refuses more markers at the first one over the limit', () => {
        const line = shape.text(maxEmphasisMarkers + 2);
        const result = checkSource('em.md', `# T\n\n${line}\n`);
        expect(result.lexable).toBe(false);
        expect(result.diagnostics).toEqual([expect.objectContaining({
          code: 'too-deeply-nested',
          location: { file: 'em.md', line: 3, column: columnOfNth(line, shape.marker, maxEmphasisMarkers + 1) },
          expected: `at most ${maxEmphasisMarkers} in one paragraph (separate paragraphs with blank lines)`,
        })]);
      });
    });

    it('counts each paragraph on its own, and ignores `_` inside words', () => {
      const paragraph = `${'**bold** and _it_ and snake_case_name '.repeat(40)}\n\n`;
      expectAcceptedAndLexed(`# T\n\n${paragraph.repeat(20)}`);
    });

    it('counts list items and headings as paragraphs of their own', () => {
      expectAcceptedAndLexed(`# T\n\n${'- **bold** item with *emphasis*\n'.repeat(300)}`);
    });
  });

  describe('when the text has shapes that make marked super-linear', () => {
    describe.each(Object.entries(SLOW_SHAPES))('as %s', (_name, shape) => {
      it('refuses it once it grows too big, and marked lexes the largest accepted size', () => {
        let accepted = 0;
        let length = 256;
        for (; length <= maxBytes; length *= 2) {
          if (!checkSource('slow.md', shape(length)).lexable) break;
          accepted = length;
        }
        expect(accepted).toBeGreaterThan(0);
        expect(length).toBeLessThanOrEqual(maxBytes);
        expect(checkSource('slow.md', shape(length)).diagnostics).toEqual([expect.objectContaining({ code: 'too-complex' })]);
        // Measured at the budget boundary (2 cores): every shape lexes in under ~1 s.
        expect(() => marked.lexer(checkSource('slow.md', shape(accepted)).text)).not.toThrow();
      }, 60_000);
    });

    it('points at the costliest block and says what makes it costly', () => {
      const text = `# T\n\nA short intro.\n\n${fill('a\n-|-\n', 60_000)}`;
      expect(checkSource('slow.md', text).diagnostics).toEqual([{
        severity: 'error',
        code: 'too-complex',
        message: 'the Markdown lexer would take too long on this file: add blank lines between long stretches of text, and avoid long runs of `*`, `_`, `~` or punctuation',
        location: { file: 'slow.md', line: 5, column: 1 },
        expected: 'an estimated lexing cost of at most 1,000,000',
        found: expect.stringMatching(/from many lines without a blank line between them at line 5$/),
      }]);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { parseRunbook, slugify } from '../../../src/machines/parse.ts';

const executors = new Set(['http', 'run', 'approve']);
const parse = (text: string) => parseRunbook('doc.md', text, { executors });

describe('parseRunbook', () => {
  describe('when a runbook has front matter, a title, steps and blocks', () => {
    const doc = parse(['---', 'title: T', 'params: { a: string }', '---', '# Title', '', 'Intro text.', '', '## Check it {#check}', 'Look first.', '', '```http', 'url: https://x.internal', '```', '', '```sh', 'echo docs only', '```', '', 'Setext step', '-----------', 'Do it by hand.', ''].join('\n'));

    it('keeps the front matter apart and finds the title and intro', () => {
      expect(doc.diagnostics).toEqual([]);
      expect(doc.frontMatter?.value).toEqual({ title: 'T', params: { a: 'string' } });
      expect(doc.title).toBe('Title');
      expect(doc.intro).toBe('Intro text.');
    });

    it('makes every level-2 heading a step with its id and line', () => {
      expect(doc.steps.map((s) => [s.id, s.title, s.location.line, s.hasExplicitId])).toEqual([
        ['check', 'Check it', 9, true],
        ['setext-step', 'Setext step', 20, false],
      ]);
    });

    it('takes an executor-named block as the call, with its line, and keeps other blocks as instructions', () => {
      const [check] = doc.steps;
      expect(check?.blocks).toHaveLength(1);
      expect(check?.blocks[0]).toMatchObject({ executor: 'http', closed: true, location: { line: 12, column: 1 } });
      expect(check?.blocks[0]?.yaml.value).toEqual({ url: 'https://x.internal' });
      expect(check?.blocks[0]?.yaml.locate(['url'])).toMatchObject({ line: 13, column: 6 });
      expect(check?.instructions).toContain('echo docs only');
      expect(check?.instructions).not.toContain('https://x.internal');
    });
  });

  describe('when the text uses Windows line endings and a BOM', () => {
    it('reads it like the same text with LF endings', () => {
      const doc = parse('\uFEFF# T\r\n\r\n## Step\r\n```run\r\nargv: [a]\r\n```\r\n');
      expect(doc.steps[0]?.blocks[0]?.yaml.value).toEqual({ argv: ['a'] });
      expect(doc.steps[0]?.location.line).toBe(3);
    });
  });

  describe('when the front matter is never closed', () => {
    it('reports it at line 1', () => {
      expect(parse('---\ntitle: x\n## Step\n').diagnostics).toContainEqual(expect.objectContaining({ code: 'unclosed-front-matter', location: { file: 'doc.md', line: 1, column: 1 } }));
    });
  });

  describe('when an executable block sits inside a list', () => {
    it('warns that it will not run', () => {
      const doc = parse('## Step\n- do this:\n  ```run\n  argv: [a]\n  ```\n');
      expect(doc.steps[0]?.blocks).toEqual([]);
      expect(doc.diagnostics).toContainEqual(expect.objectContaining({ code: 'nested-executable-block', severity: 'warning' }));
    });
  });
});

describe('slugify', () => {
  it.each([
    ['Check what is serving', 'check-what-is-serving'],
    ['Roll `model` back (carefully)!', 'roll-model-back-carefully'],
    ['  --  ', ''],
    ['Ünïcode ßtep', 'n-code-tep'],
  ])('%j → %j', (input, slug) => {
    expect(slugify(input)).toBe(slug);
  });
});

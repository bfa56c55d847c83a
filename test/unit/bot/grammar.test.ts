import { describe, expect, it } from 'vitest';
import { parseCommand, tokenize, type Token } from '../../../src/bot/grammar.ts';

const words = (input: string): string[] => {
  const result = tokenize(input);
  if (!result.ok) throw new Error(result.error);
  return result.tokens.map((t) => t.text);
};
const args = (tokens: readonly Token[]) => tokens.map((t) => t.text);

describe('tokenize', () => {
  describe('when words are separated by any whitespace', () => {
    it('splits on spaces, tabs, newlines and non-breaking spaces, ignoring runs of them', () => {
      expect(words('  rollback\tmodel-x \n v2\u00a0 ')).toEqual(['rollback', 'model-x', 'v2']);
    });
    it('gives no words for empty or blank text', () => {
      expect(words('')).toEqual([]);
      expect(words('   ')).toEqual([]);
    });
  });

  describe('when a value is quoted', () => {
    it('keeps the spaces of a straight-quoted word', () => {
      expect(words('cancel R1 "disk is full"')).toEqual(['cancel', 'R1', 'disk is full']);
      expect(words("note 'two words'")).toEqual(['note', 'two words']);
    });
    it('accepts Slack smart quotes “ ” and ‘ ’', () => {
      expect(words('change “two words” ‘and more’')).toEqual(['change', 'two words', 'and more']);
    });
    it('accepts smart quotes that open and close with the same mark', () => {
      expect(words('x ”a b”')).toEqual(['x', 'a b']);
    });
    it('quotes the value of name=value', () => {
      expect(words('reason="it is late" note=“a b”')).toEqual(['reason=it is late', 'note=a b']);
    });
    it('keeps an empty quoted value as an empty word', () => {
      expect(words('note=""')).toEqual(['note=']);
      expect(words('""')).toEqual(['']);
    });
    it('marks a word that begins with a quote, so "a=b" is a value and not an assignment', () => {
      const result = tokenize('"a=b" c=d');
      expect(result.ok && result.tokens).toEqual([{ text: 'a=b', quoted: true }, { text: 'c=d', quoted: false }]);
    });
    it('unescapes \\" and \\\\ inside quotes', () => {
      expect(words('"say \\"hi\\" \\\\ bye"')).toEqual(['say "hi" \\ bye']);
    });
    it('joins a quoted section with what follows it in the same word', () => {
      expect(words('"a b"c')).toEqual(['a bc']);
    });
  });

  describe('when quotes appear inside a word', () => {
    it('keeps apostrophes literal', () => {
      expect(words("don't stop")).toEqual(["don't", 'stop']);
      expect(words('reason=it’s')).toEqual(['reason=it’s']);
    });
  });

  describe('when a quote is never closed', () => {
    it('fails with where the quote opened', () => {
      expect(tokenize('cancel R1 "disk full')).toEqual({ ok: false, error: 'the quote " at character 11 is never closed' });
      expect(tokenize('x “open').ok).toBe(false);
    });
  });
});

describe('parseCommand', () => {
  describe('when the text is empty', () => {
    it('asks for the modal', () => {
      expect(parseCommand('')).toEqual({ kind: 'open-modal' });
      expect(parseCommand('  ')).toEqual({ kind: 'open-modal' });
    });
  });

  describe('when the first word is a built-in', () => {
    it('parses list with and without a tag, case-insensitively', () => {
      expect(parseCommand('list')).toEqual({ kind: 'list' });
      expect(parseCommand('LIST ml')).toEqual({ kind: 'list', tag: 'ml' });
    });
    it('parses help with and without a runbook', () => {
      expect(parseCommand('help')).toEqual({ kind: 'help' });
      expect(parseCommand('help rollback')).toEqual({ kind: 'help', runbook: 'rollback' });
    });
    it('parses status with and without a run', () => {
      expect(parseCommand('status')).toEqual({ kind: 'status' });
      expect(parseCommand('status 01ABC')).toEqual({ kind: 'status', runId: '01ABC' });
    });
    it('parses cancel with an optional reason of many words', () => {
      expect(parseCommand('cancel 01ABC')).toEqual({ kind: 'cancel', runId: '01ABC' });
      expect(parseCommand('cancel 01ABC wrong model "really wrong"')).toEqual({ kind: 'cancel', runId: '01ABC', reason: 'wrong model really wrong' });
    });
    it('parses plan with the runbook and its arguments', () => {
      const parsed = parseCommand('plan rollback model-x version=v2');
      expect(parsed.kind === 'plan' && [parsed.runbook, ...args(parsed.args)]).toEqual(['rollback', 'model-x', 'version=v2']);
    });
    it('reports a built-in missing its argument, with the usage', () => {
      expect(parseCommand('cancel')).toMatchObject({ kind: 'invalid', usage: '/runbook cancel <run> [reason…]' });
      expect(parseCommand('plan')).toMatchObject({ kind: 'invalid', usage: '/runbook plan <runbook> [params…] [name=value…]' });
    });
    it('reports too many arguments', () => {
      expect(parseCommand('status a b')).toMatchObject({ kind: 'invalid', message: '`status` takes at most 1 argument; got 2' });
      expect(parseCommand('list a b')).toMatchObject({ kind: 'invalid' });
      expect(parseCommand('help a b')).toMatchObject({ kind: 'invalid' });
    });
  });

  describe('when the first word is anything else', () => {
    it('starts that runbook with the remaining words', () => {
      const parsed = parseCommand('rollback model-x "v2 rc" note=“slow canary”');
      expect(parsed.kind).toBe('start');
      if (parsed.kind !== 'start') return;
      expect(parsed.runbook).toBe('rollback');
      expect(args(parsed.args)).toEqual(['model-x', 'v2 rc', 'note=slow canary']);
    });
    it('treats a quoted built-in name as a runbook name', () => {
      expect(parseCommand('"list"')).toMatchObject({ kind: 'start', runbook: 'list' });
    });
  });

  describe('when Slack escaped &, < and >', () => {
    it('unescapes them before splitting', () => {
      const parsed = parseCommand('x q=&lt;a&amp;b&gt;');
      expect(parsed.kind === 'start' && args(parsed.args)).toEqual(['q=<a&b>']);
    });
  });

  describe('when a quote is not closed', () => {
    it('is invalid, nothing else', () => {
      expect(parseCommand('rollback "model-x')).toMatchObject({ kind: 'invalid', message: 'the quote " at character 10 is never closed' });
    });
  });
});

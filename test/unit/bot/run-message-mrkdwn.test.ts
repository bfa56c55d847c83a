import { describe, expect, it } from 'vitest';
import { codeBlock, escapeMrkdwn, markdownToMrkdwn, splitMrkdwn, truncateMrkdwn } from '../../../src/bot/run-message/mrkdwn.ts';

const ZWSP = '\u200b';

describe('markdownToMrkdwn', () => {
  describe('when the runbook uses lists', () => {
    it('turns bullets into • and keeps numbered and nested lists', () => {
      expect(markdownToMrkdwn('- one\n- two\n  - nested')).toBe('•   one\n•   two\n    •   nested');
      expect(markdownToMrkdwn('1. first\n2. second')).toBe('1.  first\n2.  second');
    });
  });

  describe('when the runbook uses code', () => {
    it('keeps inline code and fenced blocks (language dropped) and escapes what Slack reserves inside them', () => {
      expect(markdownToMrkdwn('Run `a && b <c>` now')).toBe('Run `a &amp;&amp; b &lt;c&gt;` now');
      expect(markdownToMrkdwn("```sh\nkubectl get pods | grep x > /tmp/out && echo '<!channel>'\n```"))
        .toBe("```\nkubectl get pods | grep x &gt; /tmp/out &amp;&amp; echo '&lt;!channel&gt;'\n```");
      expect(markdownToMrkdwn('~~~promql\nrate(x[5m]) > 0.5\n~~~')).toBe('```\nrate(x[5m]) &gt; 0.5\n```');
    });
  });

  describe('when the runbook uses links', () => {
    it('writes <url|text> links, and drops links Slack cannot open', () => {
      expect(markdownToMrkdwn('See [Grafana](https://grafana.example.com/d/x?a=1&b=2).')).toBe('See <https://grafana.example.com/d/x?a=1&b=2|Grafana>.');
      expect(markdownToMrkdwn('<https://example.com>')).toBe('<https://example.com|https://example.com>');
      expect(markdownToMrkdwn('[docs](./docs/x.md) and [bad](javascript:alert(1))')).toBe('docs and bad');
    });
  });

  describe('when the runbook uses emphasis', () => {
    it('maps bold, italic and strike to Slack markers, guarded by zero-width spaces', () => {
      expect(markdownToMrkdwn('**bold**, _italic_, *also italic*, ~~gone~~')).toBe(
        `${ZWSP}*bold*${ZWSP}, ${ZWSP}_italic_${ZWSP}, ${ZWSP}_also italic_${ZWSP}, ${ZWSP}~gone~${ZWSP}`,
      );
      expect(markdownToMrkdwn('### Heading')).toBe('*Heading*');
      expect(markdownToMrkdwn('> quoted')).toBe('> quoted');
    });
  });

  describe('when the text holds characters Slack reserves', () => {
    it('escapes bare &, < and > (raw HTML and broadcast mentions included) but keeps user and channel mentions', () => {
      expect(markdownToMrkdwn('a > b > c & x < y')).toBe('a &gt; b &gt; c &amp; x &lt; y');
      expect(markdownToMrkdwn('<b>bold?</b> <!here>')).toBe('&lt;b&gt;bold?&lt;/b&gt; &lt;!here&gt;');
      expect(markdownToMrkdwn('ask <@U024BE7LH> in <#C0MLONC001>')).toBe('ask <@U024BE7LH> in <#C0MLONC001>');
      expect(markdownToMrkdwn('<!-- an editor note -->\nVisible')).toBe('Visible');
    });
  });
});

describe('splitMrkdwn', () => {
  it('splits at line breaks, closing a code block at the end of a chunk and reopening it in the next', () => {
    const text = ['intro', '```', ...Array.from({ length: 40 }, (_, i) => `line ${i} ${'z'.repeat(20)}`), '```', 'outro'].join('\n');
    const chunks = splitMrkdwn(text, 300);
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(300);
      expect(chunk.split('\n').filter((l) => l.startsWith('```')).length % 2).toBe(0);
    }
    const body = chunks.join('\n').split('\n').filter((l) => l.startsWith('line '));
    expect(body).toHaveLength(40);
  });

  it('cuts a line longer than a chunk without splitting an entity or a link', () => {
    const line = `${'a'.repeat(90)}&amp;<https://example.com/${'p'.repeat(65)}|link>${'b'.repeat(200)}`;
    const chunks = splitMrkdwn(line, 100);
    expect(chunks.join('')).toBe(line);
    expect(chunks.some((c) => c.startsWith('<https://'))).toBe(true);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(100);
      expect(chunk).not.toMatch(/&(?!amp;)/);
      expect(chunk.split('<').length).toBe(chunk.split('>').length);
    }
  });
});

describe('truncateMrkdwn and codeBlock', () => {
  it('truncates with an ellipsis and closes an open code block', () => {
    const cut = truncateMrkdwn(`intro\n\`\`\`\n${'x'.repeat(500)}\n\`\`\``, 100);
    expect(cut.length).toBeLessThanOrEqual(100);
    expect(cut.endsWith('…\n```')).toBe(true);
  });

  it('escapes, defuses inner fences and stays within its size', () => {
    const block = codeBlock(`<x> & \`\`\` ${'y'.repeat(300)}`, 120);
    expect(block.length).toBeLessThanOrEqual(120);
    expect(block.startsWith('```\n&lt;x&gt; &amp; ``\u200b` ')).toBe(true);
    expect(block.endsWith('…\n```')).toBe(true);
    expect(escapeMrkdwn('<&>')).toBe('&lt;&amp;&gt;');
  });
});

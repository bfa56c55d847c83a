import { describe, expect, it } from 'vitest';
import { formatDiagnostic, type Diagnostic } from '../../../src/machines/diagnostics.ts';
import { loadFixture } from '../../helpers/runbooks.ts';

const codes = (diagnostics: readonly Diagnostic[]) => diagnostics.map((d) => `${d.severity}:${d.code}@${d.location.line}`);

function lint(name: string) {
  const loaded = loadFixture(name);
  return { loaded, diagnostics: loaded.diagnostics, codes: codes(loaded.diagnostics), text: loaded.diagnostics.map(formatDiagnostic).join('\n') };
}

describe('runbook rules', () => {
  describe('when an undo names an executor that does not exist', () => {
    it('reports unknown-executor at the `executor:` line, listing the callable ones', () => {
      const { diagnostics } = lint('unknown-executor-in-undo.md');
      const d = diagnostics.find((x) => x.code === 'unknown-executor');
      expect(d).toMatchObject({ severity: 'error', location: { file: 'fixtures/unknown-executor-in-undo.md', line: 8, column: 13 }, found: '"teleport"' });
      expect(d?.expected).toContain('`http`');
    });
  });

  describe('when executor arguments are wrong', () => {
    it('reports every problem at once, each at its own line', () => {
      const { diagnostics, text } = lint('bad-executor-arguments.md');
      const args = diagnostics.filter((d) => d.code === 'executor-arguments');
      expect(args.map((d) => d.location.line).sort()).toEqual([5, 6, 7]);
      expect(text).toContain('unknown key `retry_forever`');
      expect(args.find((d) => d.location.line === 5)?.found).toBe('"FETCH"');
      expect(diagnostics.every((d) => d.location.file === 'fixtures/bad-executor-arguments.md')).toBe(true);
    });
  });

  describe('when two steps share an id', () => {
    it('reports the second with the line of the first', () => {
      const { diagnostics } = lint('duplicate-step-ids.md');
      expect(diagnostics).toEqual([expect.objectContaining({ code: 'duplicate-step-id', location: expect.objectContaining({ line: 6 }), message: expect.stringContaining('line 3') })]);
    });
  });

  describe('when templates and on_failure name things that do not exist', () => {
    it('reports undeclared params, unknown and later steps, and a missing on_failure target', () => {
      const { codes: found, text } = lint('unknown-references.md');
      expect(found).toEqual(expect.arrayContaining([
        'error:unknown-param-reference@9',
        'error:unknown-step-reference@9',
        'error:step-reference-order@9',
        'error:unknown-step-reference@11',
        'error:unknown-param-reference@18',
      ]));
      expect(text).toContain('params.modle');
      expect(text).toContain('has not run yet');
    });
  });

  describe('when a step can never run', () => {
    it('reports unreachable-step', () => {
      expect(lint('unreachable-step.md').codes).toContain('error:unreachable-step@7');
    });
  });

  describe('when durations are not durations', () => {
    it('reports each one with what a duration looks like', () => {
      const { diagnostics } = lint('invalid-durations.md');
      const lines = diagnostics.filter((d) => d.severity === 'error').map((d) => d.location.line).sort((a, b) => a - b);
      expect(lines).toEqual([2, 8, 15]);
      expect(diagnostics.filter((d) => d.severity === 'error').every((d) => /duration such as 30s/.test(`${d.message} ${d.expected}`))).toBe(true);
    });
  });

  describe('when a param default fails its own pattern or the pattern is broken', () => {
    it('reports both', () => {
      const { codes: found } = lint('default-fails-pattern.md');
      expect(found).toEqual(expect.arrayContaining(['error:param-default@3', 'error:invalid-pattern@4']));
    });
  });

  describe('when an approval quorum exceeds the approvers listed', () => {
    it('reports approval-quorum', () => {
      const { diagnostics } = lint('approval-without-approvers.md');
      expect(diagnostics).toContainEqual(expect.objectContaining({ code: 'approval-quorum', severity: 'error', found: 'quorum 3' }));
    });
  });

  describe('when a mutating step lacks approval, undo and timeout', () => {
    it('warns three times but does not fail the runbook', () => {
      const { loaded, codes: found } = lint('mutating-without-safety.md');
      expect([...found].sort()).toEqual(['warning:mutating-without-approval@4', 'warning:mutating-without-timeout@4', 'warning:mutating-without-undo@4']);
      expect(loaded.runbook).toBeDefined();
    });
  });

  describe('when approvers are templated', () => {
    it('refuses: who may approve cannot depend on the request', () => {
      expect(lint('templated-approver.md').codes).toContain('error:templated-approval@9');
    });
  });

  describe('when a step has two executable blocks', () => {
    it('reports multiple-executable-blocks at the second', () => {
      expect(lint('multiple-blocks.md').codes).toContain('error:multiple-executable-blocks@9');
    });
  });

  describe('when a block is not valid YAML', () => {
    it('reports yaml-syntax inside the block', () => {
      const { diagnostics } = lint('invalid-yaml-block.md');
      expect(diagnostics[0]).toMatchObject({ code: 'yaml-syntax', severity: 'error' });
      expect(diagnostics[0]?.location.line).toBeGreaterThanOrEqual(5);
    });
  });

  describe('when a fence is never closed', () => {
    it('reports unclosed-fence at the opening line', () => {
      expect(lint('unclosed-fence.md').codes).toContain('error:unclosed-fence@4');
    });
  });

  describe('when a template does not parse', () => {
    it('reports template-syntax for each', () => {
      const { diagnostics } = lint('template-syntax-error.md');
      const syntax = diagnostics.filter((d) => d.code === 'template-syntax');
      expect(syntax).toHaveLength(2);
      expect(syntax[0]?.message).toMatch(/shout/);
      expect(syntax[1]?.message).toMatch(/\+/);
    });
  });

  describe('when a runbook has no executable blocks', () => {
    it('compiles to a checklist of manual steps, with documentation blocks kept as instructions', () => {
      const { loaded } = lint('checklist-only.md');
      expect(loaded.diagnostics).toEqual([]);
      expect(loaded.runbook?.steps.map((s) => s.kind)).toEqual(['manual', 'manual']);
      expect(loaded.runbook?.steps[1]?.instructions).toContain('kubectl rollout restart');
    });
  });

  describe('when a documentation block is one letter from an executor', () => {
    it('warns that it will not run', () => {
      expect(lint('executor-typo.md').diagnostics).toContainEqual(expect.objectContaining({ code: 'possible-executor-typo', severity: 'warning', message: expect.stringContaining('`http`') }));
    });
  });

  describe('when the front matter has keys Runbook Bot does not know, or usage names undeclared params', () => {
    it('warns about the keys and errors on the usage', () => {
      const { codes: found } = lint('unknown-front-matter.md');
      expect(found).toEqual(expect.arrayContaining(['warning:unknown-front-matter-key@3', 'error:unknown-param-reference@4']));
    });
  });
});

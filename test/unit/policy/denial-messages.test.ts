import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { refusedReply } from '../../../src/bot/views/replies.ts';
import { CliError } from '../../../src/cli/cli-error.ts';
import { loadAppPolicy } from '../../../src/cli/commands/policy.ts';
import { engineProblem } from '../../../src/cli/connect.ts';
import { EngineError } from '../../../src/engine/errors.ts';
import { valid } from '../../helpers/runbooks.ts';

const denial = new EngineError('policy_denied', 'policy denied `restart`: change freeze `year-end` is on (rule policy.yaml:9 year-end); who can help: @sre-leads, U0LEAD001');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('policy denials', () => {
  describe('when Slack shows a denied start', () => {
    it('says the policy refused it, which rule and who can help', () => {
      const reply = refusedReply(valid('---\nid: restart\n---\n# Restart\n\n## Do it\nBy hand.\n'), denial);
      expect(reply.text).toContain('🚫 Not started: the policy does not allow it');
      expect(reply.text).toContain('rule policy.yaml:9 year-end');
      expect(reply.text).toContain('who can help: @sre-leads, U0LEAD001');
    });
  });

  describe('when the CLI gets a denied start', () => {
    it('turns it into a one-line problem that exits 2', () => {
      const problem = engineProblem(denial);
      expect(problem).toBeInstanceOf(CliError);
      expect(problem).toMatchObject({ code: 'policy_denied', exitCode: 2, message: denial.message });
    });
  });

  describe('when a process starts with an invalid policy file', () => {
    it('refuses with every file:line problem', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'policy-'));
      try {
        const file = join(dir, 'policy.yaml');
        writeFileSync(file, 'run:\n  default: maybe\nhttp:\n  allow: ["https://x"]\n');
        const error = await loadAppPolicy(file, quiet).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CliError);
        expect((error as CliError).message).toMatch(/the policy has 2 problems[\s\S]*policy\.yaml:2:12 error[\s\S]*policy\.yaml:4:11 error/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when a process starts with no policy file', () => {
    it('says so and uses the built-in defaults', async () => {
      const notices: string[] = [];
      const policy = await loadAppPolicy(join(tmpdir(), 'no-such-dir-h6', 'policy.yaml'), { ...quiet, info: (_f, m) => notices.push(m) });
      expect(policy.isBuiltIn).toBe(true);
      expect(notices).toEqual([expect.stringContaining('using the built-in defaults')]);
    });
  });
});

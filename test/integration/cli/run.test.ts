import { afterAll, describe, expect, it } from 'vitest';
import { createCliSandbox, type CliSandbox } from './cli-process.ts';

// Every test gets its own Redis prefix and DATA_DIR, so they run concurrently.
const sandboxes: CliSandbox[] = [];
const sandbox = (options: { embedded?: boolean } = {}) => {
  const created = createCliSandbox(options);
  sandboxes.push(created);
  return created;
};

afterAll(async () => {
  await Promise.all(sandboxes.map((s) => s.cleanup()));
});

/** Several tests drive processes one after another, all at once, on machines with two cores. */
const SLOW_TEST_MS = 90_000;

const RUN_ID = /Run ([0-9A-Z]{26}) started/;

interface ListedRun {
  id: string;
  runbook: string;
  status: string;
  requester: { id: string; name?: string };
  durationMs: number;
  currentStep?: { id: string; status: string };
}

interface StatusJson {
  status: string;
  steps: { id: string; status: string; durationMs?: number; approvals: { id: string; name?: string; at?: string }[] }[];
}

describe('runbook run', { timeout: SLOW_TEST_MS }, () => {
  describe.concurrent('when every prompt is answered with --yes', () => {
    it('runs the call, manual and self-approvable steps, shows each, and exits 0', async () => {
      const result = await sandbox().run(['run', 'cli-checklist', '--yes', '--param', 'target=beta']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(RUN_ID);
      expect(result.stdout).toMatch(/✔ check \(\d+(\.\d)?m?s\)\n {2}→ .*"label":"check beta"/);
      expect(result.stdout).toContain('✋ manual step dashboard: Look at the dashboard');
      expect(result.stdout).toContain('│ Open the serving dashboard');
      expect(result.stdout).toMatch(/✔ dashboard done by \w+/);
      expect(result.stdout).toContain('⏸ waiting for approval: Change beta?');
      expect(result.stdout).toMatch(/✔ approve approved by \w+/);
      expect(result.stdout).toMatch(/✔ apply \(/);
      expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(/^✅ succeeded in \d/);
      // CI logs stay clean: no spinner or cursor control codes off a TTY.
      expect(result.stdout).not.toContain('\x1b');
    });
  });

  describe.concurrent('when a step fails', () => {
    it('names the failing step and exits 1 without running later steps', async () => {
      const result = await sandbox().run(['run', 'cli-failing', '--yes']);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('✖ deploy: deploy_broken: failure 1 of 5');
      expect(result.stdout).toMatch(/❌ failed at deploy: deploy_broken/);
      expect(result.stdout).not.toContain('▶ after');
    });

    it('with on_failure: rollback, undoes completed steps and exits 3', async () => {
      const result = await sandbox().run(['run', 'cli-rollback', '--yes']);
      expect(result.code).toBe(3);
      // The view reports the states it sees; a fast undo may finish between two looks.
      expect(result.stdout).toMatch(/✖ verify: verify_failed[^\n]*\n(?:↩ undoing apply\n)?↩ undid apply/);
      expect(result.stdout).toMatch(/↩ rolled back after verify: .*undone: apply/);
    });
  });

  describe.concurrent('when the approval forbids self-approval', () => {
    it('waits, and `runbook approve --as bob` from another process completes it; status and list show it', async () => {
      const s = sandbox();
      const run = s.start(['run', 'cli-gate', '--yes', '--param', 'target=gamma']);
      await run.waitFor(/waiting for an approver: runbook approve \w+ --as NAME/);
      const listed = await s.run(['list', '--format', 'json']);
      expect(listed.code).toBe(0);
      const runs = JSON.parse(listed.stdout) as ListedRun[];
      expect(runs).toHaveLength(1);
      const [active] = runs;
      expect(active).toMatchObject({ runbook: 'cli-gate', status: 'active', currentStep: { id: 'approve', status: 'awaiting_approval' } });
      expect(active?.requester.id).toMatch(/^cli:/);
      const id = active?.id ?? '';

      const approved = await s.run(['approve', id, '--as', 'bob']);
      expect(approved).toMatchObject({ code: 0 });
      expect(approved.stdout).toContain(`✔ approved approve of run ${id} as bob (1/1)`);

      const result = await run.done;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('does not allow self-approval');
      expect(result.stdout).toMatch(/✔ approve approved by bob \(\d/);
      expect(result.stdout).toMatch(/✅ succeeded in /);

      const status = await s.run(['status', id]);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/status: +succeeded/);
      expect(status.stdout).toMatch(/approve +succeeded +- +\d+(\.\d)?m?s +approved by bob at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
      expect(status.stdout).toMatch(/apply +succeeded +1 +\d+(\.\d)?m?s/);
      const json = JSON.parse((await s.run(['status', id, '--format', 'json'])).stdout) as StatusJson;
      expect(json.steps[0]?.approvals[0]).toMatchObject({ id: 'cli:bob', name: 'bob' });
      expect(json.steps.every((step) => typeof step.durationMs === 'number')).toBe(true);
    });

    it('`runbook reject` from another process ends it rejected with exit 4', async () => {
      const s = sandbox();
      const run = s.start(['run', 'cli-gate', '--yes', '--param', 'target=delta']);
      const [, id = ''] = await run.waitFor(RUN_ID);
      await run.waitFor(/waiting for an approver/);
      const rejected = await s.run(['reject', id, '--as', 'bob', '--reason', 'not today']);
      expect(rejected.code).toBe(0);
      const result = await run.done;
      expect(result.code).toBe(4);
      expect(result.stdout).toContain('✖ approve rejected by bob: not today');
      expect(result.stdout).toContain('🚫 rejected by bob at approve: not today');
      expect(result.stdout).not.toContain('▶ apply');
    });
  });

  describe.concurrent('when nobody answers at the terminal', () => {
    it('prints the commands to decide from elsewhere, and `runbook cancel` ends it with exit 5', async () => {
      const s = sandbox();
      const run = s.start(['run', 'cli-gate', '--param', 'target=eps']);
      const [, id = ''] = await run.waitFor(RUN_ID);
      await run.waitFor(new RegExp(`waiting for an approver: runbook approve ${id} --as NAME`));
      const cancelled = await s.run(['cancel', id, '--reason', 'wrong target']);
      expect(cancelled).toMatchObject({ code: 0, stdout: `⏹ cancelled run ${id}\n` });
      const result = await run.done;
      expect(result.code).toBe(5);
      expect(result.stdout).toMatch(/⏹ cancelled by \w+: wrong target/);
      expect((await s.run(['cancel', id])).stderr).toContain(`run ${id} has already finished (cancelled)`);
    });

    it('prints how to mark a manual step, and `runbook skip` and `runbook approve` from elsewhere finish it', async () => {
      const s = sandbox();
      const run = s.start(['run', 'cli-checklist']);
      const [, id = ''] = await run.waitFor(RUN_ID);
      await run.waitFor(new RegExp(`waiting for the step to be marked: runbook done ${id} dashboard`));
      const early = await s.run(['approve', id, '--as', 'bob']);
      expect(early.code).toBe(1);
      expect(early.stderr).toContain(`cannot approve run ${id}: nothing in it is waiting for approval`);
      expect(await s.run(['skip', id, '--as', 'carol', '--reason', 'dashboards are down'])).toMatchObject({ code: 0, stdout: `⏭ skipped dashboard of run ${id} as carol\n` });
      await run.waitFor(/waiting for an approver/);
      expect((await s.run(['approve', id, 'approve', '--as', 'bob'])).code).toBe(0);
      const result = await run.done;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('⏭ dashboard skipped by carol');
      expect(result.stdout).toContain('✔ approve approved by bob');
    });

    it('Ctrl-C without a TTY cancels at once and exits 5', async () => {
      const run = sandbox().start(['run', 'cli-gate', '--param', 'target=zeta']);
      await run.waitFor(/waiting for an approver/);
      run.child.kill('SIGINT');
      const result = await run.done;
      expect(result.code).toBe(5);
      expect(result.stdout).toContain('⏹ cancelling run');
      expect(result.stdout).toContain('⏹ cancelled by');
    });
  });

  describe.concurrent('when another command needs the embedded Redis a run owns', () => {
    it('says to set REDIS_URL (naming the socket) instead of crashing, and works once it is set', async () => {
      const s = sandbox({ embedded: true });
      const run = s.start(['run', 'cli-gate', '--param', 'target=theta']);
      const [, id = ''] = await run.waitFor(RUN_ID);
      const refused = await s.run(['status', id]);
      expect(refused.code).toBe(2);
      const lines = refused.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      const [, url = ''] = lines[0]?.match(/owns the embedded Redis of DATA_DIR .*; set REDIS_URL=(unix:\/\/\S+) to talk to it/) ?? [];
      expect(url).not.toBe('');
      expect((await s.run(['cancel', id], { REDIS_URL: url })).code).toBe(0);
      expect((await run.done).code).toBe(5);
    });
  });

  describe.concurrent('when nothing should run', () => {
    it('--dry-run prints the plan and starts no run', async () => {
      const s = sandbox();
      const result = await s.run(['run', 'cli-gate', '--param', 'target=eta', '--dry-run']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Plan for CLI gate the requester may not approve');
      expect(result.stdout).toContain('label: apply eta');
      expect(result.stdout).toContain('Nothing was executed.');
      expect(JSON.parse((await s.run(['list', '--format', 'json'])).stdout)).toEqual([]);
    });

    it('a bad param is one line on stderr and exit 2', async () => {
      const result = await sandbox().run(['run', 'cli-gate', '--param', 'target=Not Valid!']);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runbook run: param `target` must match/)]);
    });

    it('an unknown runbook is one line on stderr and exit 2', async () => {
      const result = await sandbox().run(['run', 'no-such-runbook']);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runbook run: unknown runbook `no-such-runbook`/)]);
    });
  });
});

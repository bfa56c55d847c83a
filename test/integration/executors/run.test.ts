import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toStepError } from '../../../src/executors/contract.ts';
import { createRunExecutor } from '../../../src/executors/run.ts';
import { createTestContext, rejectionOf } from '../../fixtures/executors/context.ts';

const node = process.execPath;
/** `node -e <script> -- args…`: `--` stops node reading the arguments as its own options. */
const nodeScript = (script: string, ...args: string[]) => [node, '-e', script, '--', ...args];
const PRINT_ARGV = 'console.log(JSON.stringify(process.argv.slice(1)))';

interface RunOutput {
  exit_code: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
  json?: unknown;
}

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-executor-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/^\d+ \(.*\) Z/.test(stat);
}

describe('run executor', () => {
  describe('when arguments hold shell metacharacters', () => {
    it('passes every argument to the program literally', async () => {
      const marker = join(dir, 'pwned');
      const weird = [
        `; touch ${marker}`,
        `$(touch ${marker})`,
        `\`touch ${marker}\``,
        'line one\nline two',
        '--flag=value',
        '../../etc/passwd',
        '*',
        '"quoted" \'single\'',
        '$HOME ${PATH}',
        'ünïcødé 🚀 日本語',
        '',
        '| cat > /dev/null &',
      ];
      const { ctx } = createTestContext();
      const output = (await createRunExecutor().run({ argv: nodeScript(PRINT_ARGV, ...weird) }, ctx)) as RunOutput;
      expect(output.exit_code).toBe(0);
      expect(output.json).toEqual(weird);
      expect(JSON.parse(output.stdout)).toEqual(weird);
      await expect(readFile(marker)).rejects.toThrow(/ENOENT/);
    });
  });

  describe('when stdout is a JSON object', () => {
    it('parses it into `json`, and leaves `json` out for plain text', async () => {
      const { ctx } = createTestContext();
      const executor = createRunExecutor();
      const parsed = (await executor.run({ argv: nodeScript('console.log(JSON.stringify({ version: "v3", ok: true }))') }, ctx)) as RunOutput;
      expect(parsed).toEqual({ exit_code: 0, stdout: '{"version":"v3","ok":true}\n', stderr: '', truncated: false, json: { version: 'v3', ok: true } });
      const plain = (await executor.run({ argv: nodeScript('console.log("v3")') }, ctx)) as RunOutput;
      expect(plain).not.toHaveProperty('json');
    });
  });

  describe('when the program exits non-zero', () => {
    it('fails with run_exit_nonzero, the exit code and the tail of stderr, not retryable', async () => {
      const { ctx } = createTestContext();
      const script = 'process.stderr.write("x".repeat(10000) + "\\nError: model m not found\\n"); process.exit(3)';
      const error = await rejectionOf(createRunExecutor().run({ argv: nodeScript(script) }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'run_exit_nonzero', retryable: false });
      expect(error.message).toContain('exited with code 3');
      expect(error.message).toContain('Error: model m not found');
      expect(error.message.length).toBeLessThan(2_500);
    });

    it('marks exit codes listed as retryable', async () => {
      const { ctx } = createTestContext();
      const error = await rejectionOf(createRunExecutor({ retryableExitCodes: [75] }).run({ argv: nodeScript('process.exit(75)') }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'run_exit_nonzero', retryable: true });
    });
  });

  describe('when the call is aborted', () => {
    const script = (ignoreTerm: boolean) => `
      const { spawn } = require('node:child_process');
      const fs = require('node:fs');
      ${ignoreTerm ? "process.on('SIGTERM', () => {});" : ''}
      const grandchild = spawn('sleep', ['30'], { stdio: 'ignore' });
      fs.writeFileSync(process.env.PID_FILE, JSON.stringify({ child: process.pid, grandchild: grandchild.pid }));
      setInterval(() => {}, 1000);
    `;

    it.each([
      ['stops on SIGTERM', false],
      ['ignores SIGTERM and is killed after the grace period', true],
    ])('kills the whole process group when the program %s', async (_how, ignoreTerm) => {
      const pidFile = join(dir, 'pids.json');
      const { ctx, controller } = createTestContext();
      const pending = createRunExecutor({ killGraceMs: 300 }).run({ argv: nodeScript(script(ignoreTerm)), env: { PID_FILE: pidFile } }, ctx);
      await expect.poll(() => readFile(pidFile, 'utf8').catch(() => ''), { timeout: 10_000 }).toMatch(/grandchild/);
      const pids = JSON.parse(await readFile(pidFile, 'utf8')) as { child: number; grandchild: number };
      expect(await isRunning(pids.child)).toBe(true);
      expect(await isRunning(pids.grandchild)).toBe(true);
      controller.abort();
      const error = await rejectionOf(pending);
      expect(toStepError(error).code).toBe('executor_aborted');
      await expect.poll(() => isRunning(pids.child), { timeout: 3_000 }).toBe(false);
      await expect.poll(() => isRunning(pids.grandchild), { timeout: 3_000 }).toBe(false);
    });
  });

  describe('when output is larger than the cap', () => {
    it('keeps the tail of each stream and marks it truncated', async () => {
      const { ctx } = createTestContext();
      const script = 'for (let i = 0; i < 5000; i++) console.log("line " + i); process.stderr.write("e".repeat(3000) + "END")';
      const output = (await createRunExecutor({ maxStreamBytes: 1024 }).run({ argv: nodeScript(script) }, ctx)) as RunOutput;
      expect(output.truncated).toBe(true);
      expect(output.stdout).toMatch(/^…\[truncated \d+ bytes\]\n/);
      expect(output.stdout.endsWith('line 4999\n')).toBe(true);
      expect(output.stdout).not.toContain('line 10\n');
      expect(Buffer.byteLength(output.stdout)).toBeLessThan(1100);
      expect(output.stderr.endsWith('END')).toBe(true);
      expect(output).not.toHaveProperty('json');
    });
  });

  describe('when the program does not exist', () => {
    it('fails with run_command_not_found, not retryable', async () => {
      const { ctx } = createTestContext();
      const error = await rejectionOf(createRunExecutor().run({ argv: ['definitely-not-a-program-4f1c', '--help'] }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'run_command_not_found', retryable: false });
      expect(error.message).toContain('definitely-not-a-program-4f1c');
    });
  });

  describe('when the cwd does not exist', () => {
    it('fails with run_cwd_not_found', async () => {
      const { ctx } = createTestContext();
      const error = await rejectionOf(createRunExecutor().run({ argv: [node, '--version'], cwd: join(dir, 'missing') }, ctx));
      expect(toStepError(error)).toMatchObject({ code: 'run_cwd_not_found', retryable: false });
    });

    it('runs in the cwd given', async () => {
      const { ctx } = createTestContext();
      const output = (await createRunExecutor().run({ argv: nodeScript('console.log(process.cwd())'), cwd: dir }, ctx)) as RunOutput;
      expect(output.stdout.trim()).toBe(dir);
    });
  });

  describe('environment', () => {
    const saved = process.env['SLACK_BOT_TOKEN'];
    afterEach(() => {
      if (saved === undefined) delete process.env['SLACK_BOT_TOKEN'];
      else process.env['SLACK_BOT_TOKEN'] = saved;
    });

    it("passes the safe base, the step's env and the idempotency key, never the worker's secrets", async () => {
      process.env['SLACK_BOT_TOKEN'] = 'xoxb-fake-test-token';
      const { ctx } = createTestContext({ idempotencyKey: 'run-5/deploy/do/2' });
      const output = (await createRunExecutor().run({ argv: nodeScript('console.log(JSON.stringify(process.env))'), env: { MODEL: 'm-1' } }, ctx)) as RunOutput;
      const env = output.json as Record<string, string>;
      expect(env['SLACK_BOT_TOKEN']).toBeUndefined();
      expect(output.stdout).not.toContain('xoxb-fake-test-token');
      expect(env).toMatchObject({ MODEL: 'm-1', RUNBOOK_IDEMPOTENCY_KEY: 'run-5/deploy/do/2', RUNBOOK_RUN_ID: 'run-1', RUNBOOK_STEP_ID: 'step-a', RUNBOOK_ATTEMPT: '1' });
      expect(env['PATH']).toBe(process.env['PATH']);
      const allowed = new Set(['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'MODEL', 'RUNBOOK_IDEMPOTENCY_KEY', 'RUNBOOK_RUN_ID', 'RUNBOOK_STEP_ID', 'RUNBOOK_ATTEMPT']);
      expect(Object.keys(env).filter((key) => !allowed.has(key))).toEqual([]);
    });

    it('does not let a step replace the idempotency key', async () => {
      const { ctx } = createTestContext({ idempotencyKey: 'k/1' });
      const output = (await createRunExecutor().run({ argv: nodeScript('console.log(process.env.RUNBOOK_IDEMPOTENCY_KEY)'), env: { RUNBOOK_IDEMPOTENCY_KEY: 'mine' } }, ctx)) as RunOutput;
      expect(output.stdout.trim()).toBe('k/1');
    });
  });

  describe('when a secret param value is printed', () => {
    it('redacts it in stdout, json, stderr and the error message', async () => {
      const { ctx } = createTestContext({ secrets: ['s3cr3t-value'] });
      const executor = createRunExecutor();
      const script = 'console.log(JSON.stringify({ echoed: process.argv[1] })); console.error("using " + process.argv[1])';
      const output = (await executor.run({ argv: nodeScript(script, 's3cr3t-value') }, ctx)) as RunOutput;
      expect(JSON.stringify(output)).not.toContain('s3cr3t');
      expect(output.json).toEqual({ echoed: '[redacted]' });
      const error = await rejectionOf(executor.run({ argv: nodeScript('console.error("bad token " + process.argv[1]); process.exit(1)', 's3cr3t-value') }, ctx));
      expect(error.message).toContain('bad token [redacted]');
      expect(error.message).not.toContain('s3cr3t');
    });
  });

  describe('when a background child keeps the pipes open', () => {
    it('finishes soon after the program exits', async () => {
      const { ctx } = createTestContext();
      const script = "require('node:child_process').spawn('sleep', ['3'], { stdio: 'inherit', detached: false }).unref(); console.log('done')";
      const started = Date.now();
      const output = (await createRunExecutor({ stdioDrainMs: 200 }).run({ argv: nodeScript(script) }, ctx)) as RunOutput;
      expect(output.stdout).toBe('done\n');
      expect(Date.now() - started).toBeLessThan(2_000);
    });
  });
});

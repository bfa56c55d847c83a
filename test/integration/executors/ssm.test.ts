/**
 * The `ssm` executor with the real `@aws-sdk/client-ssm` over HTTP against the loopback stand-in
 * (static fake credentials, us-east-1, nothing beyond 127.0.0.1).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSsmHarnesses, executorFailureOf, ssmContext, SSM_TEST_SECRET, startSsmHarness } from '../../fixtures/executors/ssm.ts';
import { commentMarker, createSsmExecutor } from '../../../src/executors/ssm.ts';

const SECRET = SSM_TEST_SECRET;
const [I1, I2, I3] = ['i-0a1b2c3d4e5f60001', 'i-0a1b2c3d4e5f60002', 'i-0a1b2c3d4e5f60003'];
const SERVING = { document: 'AWS-RunShellScript', targets: [{ key: 'tag:role', values: ['model-serving'] }], parameters: { commands: ['modelctl current'] } };

afterEach(closeSsmHarnesses);

const harness = startSsmHarness;
const contextFor = (options: { key?: string; signal?: AbortSignal } = {}) => ssmContext('current', options);
const failureOf = executorFailureOf;

interface Output {
  commandId: string;
  adopted: boolean;
  failed: number;
  targets: { instanceId: string; status: string; responseCode: number; stdout: string; stderr: string; truncated: boolean }[];
}
/** What the stand-in's fake shell reported: the env it decoded and the rest of the script. */
const report = (stdout: string) => JSON.parse(stdout) as { instance: string; env: Record<string, string>; commands: string[] };

describe('ssm executor', () => {
  describe('when three tagged targets succeed', () => {
    it('sends one command with the blast radius and reports every target', async () => {
      const { standIn, options } = await harness();
      const ctx = contextFor();
      const output = (await createSsmExecutor(options).run({ ...SERVING, max_concurrency: '10%', max_errors: 0, env: { MODEL: 'model-x' } }, ctx)) as Output;
      expect(output.targets.map((t) => [t.instanceId, t.status, t.responseCode])).toEqual([[I1, 'Success', 0], [I2, 'Success', 0], [I3, 'Success', 0]]);
      expect(output).toMatchObject({ adopted: false, failed: 0, status: 'Success', targetCount: 3 });
      expect(report(output.targets[0]?.stdout ?? '')).toEqual({ instance: I1, env: { MODEL: 'model-x' }, commands: ['modelctl current'] });
      const sent = standIn.state.requestsFor('SendCommand');
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ DocumentName: 'AWS-RunShellScript', Targets: [{ Key: 'tag:role', Values: ['model-serving'] }], MaxConcurrency: '10%', MaxErrors: '0', Comment: commentMarker(ctx.idempotencyKey) });
    });
  });

  describe('when one target fails and max_errors is 0', () => {
    it('fails with ssm_command_failed, not retryable, summarising each failed target', async () => {
      const { standIn, options } = await harness();
      standIn.state.failTarget(I2, { responseCode: 3, stderr: 'modelctl: model-x not found\n' });
      const error = await failureOf(createSsmExecutor(options).run({ ...SERVING, max_errors: 0 }, contextFor()));
      expect(error).toMatchObject({ code: 'ssm_command_failed', retryable: false });
      expect(error.message).toContain('failed on 1 of 3 targets, more than max_errors 0');
      expect(error.message).toContain(`${I2} Failed (exit 3): modelctl: model-x not found`);
    });
  });

  describe('when one target fails within max_errors', () => {
    it('succeeds and reports the failed target', async () => {
      const { standIn, options } = await harness();
      standIn.state.failTarget(I3);
      const output = (await createSsmExecutor(options).run({ ...SERVING, max_errors: 1 }, contextFor())) as Output;
      expect(output.failed).toBe(1);
      expect(output.targets.find((t) => t.instanceId === I3)).toMatchObject({ status: 'Failed', responseCode: 1 });
    });
  });

  describe('when SSM throttles', () => {
    it('waits and retries every kind of call, then succeeds', async () => {
      const { standIn, options } = await harness();
      standIn.state.throttleNext(2, 'SendCommand');
      const output = (await createSsmExecutor(options).run(SERVING, contextFor())) as Output;
      standIn.state.throttleNext(3);
      const second = (await createSsmExecutor(options).run(SERVING, contextFor())) as Output;
      expect([output.failed, second.failed]).toEqual([0, 0]);
      expect(standIn.state.requests.filter((r) => r.outcome === 'throttled')).toHaveLength(5);
      expect(standIn.state.commands).toHaveLength(2);
    });
  });

  describe('when the SendCommand reply is lost after the command was created', () => {
    it.each([1, 3])('adopts the existing command instead of sending again (SDK maxAttempts %i)', async (maxAttempts) => {
      const { standIn, options } = await harness({}, maxAttempts);
      standIn.state.dropNextReply('SendCommand');
      const output = (await createSsmExecutor(options).run(SERVING, contextFor())) as Output;
      expect(standIn.state.requestsFor('SendCommand')).toHaveLength(1);
      expect(standIn.state.commands).toHaveLength(1);
      expect(output).toMatchObject({ adopted: true, commandId: standIn.state.commands[0]?.commandId, failed: 0 });
    });
  });

  describe('when BullMQ delivers the same attempt again', () => {
    it('adopts the command the first delivery sent', async () => {
      const { standIn, options } = await harness();
      const key = `run-${randomUUID()}/current/do/1`;
      const first = (await createSsmExecutor(options).run(SERVING, contextFor({ key }))) as Output;
      const again = (await createSsmExecutor(options).run(SERVING, contextFor({ key }))) as Output;
      expect(again).toMatchObject({ adopted: true, commandId: first.commandId });
      expect(standIn.state.requestsFor('SendCommand')).toHaveLength(1);
      const next = (await createSsmExecutor(options).run(SERVING, contextFor({ key: key.replace(/1$/, '2') }))) as Output;
      expect(next.commandId).not.toBe(first.commandId);
    });
  });

  describe('when env values are hostile', () => {
    it('delivers them verbatim and never puts them in the command text', async () => {
      const { standIn, options } = await harness();
      const env = { PAYLOAD: "'; rm -rf / #", SUBST: '$(reboot)', REF: '{{ssm:/prod/password}}', LINES: 'a\nb\n' };
      const output = (await createSsmExecutor(options).run({ ...SERVING, env }, contextFor())) as Output;
      for (const target of output.targets) expect(report(target.stdout)).toMatchObject({ env, commands: ['modelctl current'] });
      const commands = (standIn.state.requestsFor('SendCommand')[0]?.['Parameters'] as { commands: string[] }).commands.join('\n');
      for (const value of Object.values(env)) expect(commands).not.toContain(value);
    });
  });

  describe('when the new command is not visible yet', () => {
    it('keeps polling until SSM knows it', async () => {
      const { standIn, options } = await harness();
      standIn.state.hideNextCommand(2);
      const output = (await createSsmExecutor(options).run(SERVING, contextFor())) as Output;
      expect(output.failed).toBe(0);
      expect(standIn.state.requests.filter((r) => r.operation === 'ListCommands' && r.outcome === 'error')).toHaveLength(2);
      expect(standIn.state.commands).toHaveLength(1);
    });
  });

  describe('when the run is aborted while the command runs', () => {
    it('stops polling and cancels the command', async () => {
      const { standIn, options } = await harness({ completeAfterPolls: 1_000_000 });
      const controller = new AbortController();
      const running = createSsmExecutor(options).run(SERVING, contextFor({ signal: controller.signal }));
      await waitUntil(() => standIn.state.requestsFor('ListCommands').length >= 4);
      controller.abort();
      await expect(running).rejects.toMatchObject({ name: 'AbortError' });
      const seen = standIn.state.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(standIn.state.requests.length).toBe(seen);
      expect(standIn.state.requestsFor('CancelCommand')).toEqual([{ CommandId: standIn.state.commands[0]?.commandId }]);
    });
  });

  describe('when output is long or holds a secret', () => {
    it('redacts, then keeps the tail within maxOutputChars', async () => {
      const { standIn, options } = await harness();
      standIn.state.setOutput(I1, { stdout: `${'x'.repeat(10_000)}\ntoken=${SECRET}\nDONE\n`, stderr: `warn ${SECRET}\n` });
      const output = (await createSsmExecutor({ ...options, maxOutputChars: 200 }).run({ ...SERVING, env: { TOKEN: SECRET } }, contextFor())) as Output;
      const [first, second] = output.targets;
      expect(first).toMatchObject({ truncated: true, stderr: 'warn [redacted]\n' });
      expect(first?.stdout).toMatch(/^\[…\d+ chars cut\]x+\ntoken=\[redacted\]\nDONE\n$/);
      expect(first?.stdout.length).toBeLessThan(240);
      expect(report(second?.stdout ?? '').env).toEqual({ TOKEN: '[redacted]' });
      expect(JSON.stringify(output)).not.toContain(SECRET);
    });
  });

  describe('when counting requests for the bench', () => {
    it('costs one ListCommands per poll, plus one reconcile, one send and one output pass', async () => {
      const { standIn, options } = await harness();
      await createSsmExecutor(options).run(SERVING, contextFor());
      const count = (op: string) => standIn.state.requestsFor(op).length;
      // Default stand-in: the third status read sees the command terminal.
      expect({ ListCommands: count('ListCommands'), SendCommand: count('SendCommand'), ListCommandInvocations: count('ListCommandInvocations'), GetCommandInvocation: count('GetCommandInvocation') })
        .toEqual({ ListCommands: 1 + 3, SendCommand: 1, ListCommandInvocations: 1, GetCommandInvocation: 3 });
      expect(standIn.state.requests).toHaveLength(9);
    });
  });

  describe('when the targets match no instance', () => {
    it('fails with ssm_no_targets', async () => {
      const { options } = await harness();
      const error = await failureOf(createSsmExecutor(options).run({ ...SERVING, targets: [{ key: 'tag:role', values: ['nothing'] }] }, contextFor()));
      expect(error).toMatchObject({ code: 'ssm_no_targets', retryable: false });
    });
  });

  describe('when SSM rejects the command', () => {
    it('fails with ssm_request_rejected naming the SSM error', async () => {
      const { options } = await harness();
      const error = await failureOf(createSsmExecutor(options).run({ ...SERVING, targets: undefined, instance_ids: ['i-0ffffffffffffffff'] }, contextFor()));
      expect(error).toMatchObject({ code: 'ssm_request_rejected', retryable: false });
      expect(error.message).toContain('InvalidInstanceId');
    });
  });

  describe('when the environment configures the client', () => {
    it('reaches the endpoint of AWS_ENDPOINT_URL_SSM in AWS_REGION', async () => {
      const { standIn } = await harness();
      const saved = { ...process.env };
      Object.assign(process.env, { AWS_ENDPOINT_URL_SSM: standIn.url, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
      try {
        const output = (await createSsmExecutor({ pollIntervalMs: 5 }).run(SERVING, contextFor())) as Output;
        expect(output.targets).toHaveLength(3);
      } finally {
        for (const name of ['AWS_ENDPOINT_URL_SSM', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
          if (saved[name] === undefined) delete process.env[name];
          else process.env[name] = saved[name];
        }
      }
    });
  });
});

async function waitUntil(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

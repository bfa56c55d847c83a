import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ExecutorError } from '../../../src/executors/contract.ts';
import { buildStartAutomation, clientTokenFor, createSsmAutomationExecutor } from '../../../src/executors/ssm-automation.ts';
import { buildSendCommand, commentMarker, createSsmExecutor, encodeEnvPrelude } from '../../../src/executors/ssm.ts';
import { classifySsmError, SsmSendOutcomeUnknownError } from '../../../src/integrations/ssm.ts';

// Never contacted: plan() and argument checks run no request.
const offlineClient = new SSMClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

const HOSTILE_VALUES: Record<string, string> = {
  QUOTE: "'; rm -rf / #",
  SUBST: '$(touch PWNED) `touch PWNED`',
  NEWLINES: 'line one\nline two\n\n',
  SSM_REF: '{{ssm:/prod/db-password}} {{ commands }}',
  UNICODE: 'modèle-x ✓ "double" \\ back',
  EMPTY: '',
};

function callOf(extra: Record<string, unknown> = {}) {
  return { document: 'AWS-RunShellScript', targets: [{ key: 'tag:role', values: ['model-serving'] }], parameters: { commands: ['modelctl current'] }, ...extra };
}

function errorOf(action: () => unknown): ExecutorError {
  try {
    action();
  } catch (error) {
    if (error instanceof ExecutorError) return error;
    throw error;
  }
  return expect.fail('expected an ExecutorError');
}

describe('encodeEnvPrelude', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  describe.each(['bash', 'sh'])('when %s runs the prelude of AWS-RunShellScript', (shell) => {
    it('sets every value byte for byte and interprets none of them', () => {
      const dir = mkdtempSync(join(tmpdir(), 'ssm-env-'));
      dirs.push(dir);
      const prelude = encodeEnvPrelude('AWS-RunShellScript', HOSTILE_VALUES);
      // Print each variable NUL-separated so that newlines in values survive the comparison.
      const script = [...prelude, ...Object.keys(HOSTILE_VALUES).map((name) => `printf '%s\\0' "$${name}"`)].join('\n');
      const result = spawnSync(shell, ['-c', script], { cwd: dir, encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout.split('\0').slice(0, -1)).toEqual(Object.values(HOSTILE_VALUES));
      expect(existsSync(join(dir, 'PWNED'))).toBe(false);
    });
  });

  it('puts no value into the command text', () => {
    const lines = encodeEnvPrelude('AWS-RunShellScript', HOSTILE_VALUES).join('\n');
    for (const value of Object.values(HOSTILE_VALUES).filter(Boolean)) expect(lines).not.toContain(value);
    expect(lines).not.toContain('{{');
  });

  it('encodes for AWS-RunPowerShellScript too', () => {
    expect(encodeEnvPrelude('AWS-RunPowerShellScript', { MODEL: 'x' })).toEqual([
      "$env:MODEL = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('eA=='))",
    ]);
  });

  describe('when the document has no known shell', () => {
    it('refuses env, pointing at document parameters', () => {
      const error = errorOf(() => encodeEnvPrelude('Custom-Deploy', { MODEL: 'x' }));
      expect(error).toMatchObject({ code: 'ssm_env_unsupported', retryable: false });
      expect(error.message).toContain('parameters');
    });
  });

  describe('when a name is not a shell identifier', () => {
    it('refuses it, since names do enter the script', () => {
      expect(errorOf(() => encodeEnvPrelude('AWS-RunShellScript', { 'X;rm -rf /': 'v' }))).toMatchObject({ code: 'ssm_input_invalid' });
    });
  });
});

describe('buildSendCommand', () => {
  it('maps targets, parameters, blast radius and the comment marker', () => {
    const request = buildSendCommand({ ...callOf(), max_concurrency: '10%', max_errors: 0, env: { MODEL: 'm' }, comment: 'roll back' }, 'run-1/current/do/1', 600);
    expect(request).toMatchObject({
      DocumentName: 'AWS-RunShellScript',
      Targets: [{ Key: 'tag:role', Values: ['model-serving'] }],
      MaxConcurrency: '10%',
      MaxErrors: '0',
      TimeoutSeconds: 600,
      Comment: `${commentMarker('run-1/current/do/1')} roll back`,
    });
    expect(request.Parameters?.['commands']).toHaveLength(2);
    expect(request.Parameters?.['commands']?.[1]).toBe('modelctl current');
    expect(request.InstanceIds).toBeUndefined();
  });

  it('sends instance ids and turns single strings into lists', () => {
    const request = buildSendCommand({ document: 'AWS-RunShellScript', instance_ids: ['i-0abc'], parameters: { commands: 'uptime', executionTimeout: '60' } }, 'k', 60);
    expect(request).toMatchObject({ InstanceIds: ['i-0abc'], Parameters: { commands: ['uptime'], executionTimeout: ['60'] } });
    expect(request.Targets).toBeUndefined();
  });

  it('keeps the comment within the 100 characters SSM allows', () => {
    const request = buildSendCommand({ ...callOf(), comment: 'x'.repeat(300) }, 'k', 60);
    expect(request.Comment).toHaveLength(100);
    expect(request.Comment?.startsWith(commentMarker('k'))).toBe(true);
  });

  describe('when env is given without commands', () => {
    it('fails the input', () => {
      expect(errorOf(() => buildSendCommand({ document: 'AWS-RunShellScript', instance_ids: ['i-0abc'], env: { A: 'b' } }, 'k', 60))).toMatchObject({ code: 'ssm_input_invalid' });
    });
  });
});

describe('commentMarker', () => {
  it('is runbook: and 32 hex digits of sha256(key), stable per key', () => {
    expect(commentMarker('run-1/s/do/1')).toMatch(/^runbook:[0-9a-f]{32}$/);
    expect(commentMarker('run-1/s/do/1')).toBe(commentMarker('run-1/s/do/1'));
    expect(commentMarker('run-1/s/do/2')).not.toBe(commentMarker('run-1/s/do/1'));
  });
});

describe('clientTokenFor', () => {
  it('is a deterministic RFC 4122-shaped UUID per key', () => {
    const token = clientTokenFor('run-1/restart/do/1');
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(clientTokenFor('run-1/restart/do/1')).toBe(token);
    expect(clientTokenFor('run-1/restart/do/2')).not.toBe(token);
  });

  it('goes into StartAutomationExecution with targets and list parameters', () => {
    const request = buildStartAutomation({ document: 'AWS-RestartEC2Instance', parameters: { InstanceId: 'i-1' }, target_parameter: 'InstanceId', targets: [{ key: 'tag:role', values: ['db'] }] }, 'k');
    expect(request).toEqual({ DocumentName: 'AWS-RestartEC2Instance', ClientToken: clientTokenFor('k'), Parameters: { InstanceId: ['i-1'] }, TargetParameterName: 'InstanceId', Targets: [{ Key: 'tag:role', Values: ['db'] }] });
  });
});

describe('plan', () => {
  it('describes the SendCommand, its commands and env without running anything', () => {
    const executor = createSsmExecutor({ client: offlineClient });
    expect(executor.plan?.({ ...callOf(), max_concurrency: '10%', max_errors: 0, env: { MODEL: 'model-x' } })).toEqual([
      'SendCommand AWS-RunShellScript to tag:role=model-serving (max_concurrency 10%, max_errors 0)',
      'commands: ["modelctl current"]',
      'env: MODEL="model-x" (base64-delivered, not in the command text)',
    ]);
  });

  it('describes an automation', () => {
    const executor = createSsmAutomationExecutor({ client: offlineClient });
    expect(executor.plan?.({ document: 'AWS-RestartEC2Instance', parameters: { InstanceId: ['i-1'] } })).toEqual(['StartAutomationExecution AWS-RestartEC2Instance', 'InstanceId: ["i-1"]']);
  });

  describe('when the arguments are invalid or unresolved', () => {
    it('reports every problem as ssm_input_invalid', () => {
      const executor = createSsmExecutor({ client: offlineClient });
      const error = errorOf(() => executor.plan?.({ document: 'AWS-RunShellScript', targets: '{{ params.targets }}' }));
      expect(error).toMatchObject({ code: 'ssm_input_invalid', retryable: false });
      expect(errorOf(() => executor.plan?.({ document: 'AWS-RunShellScript' })).message).toContain('exactly one of `targets` or `instance_ids`');
    });
  });
});

describe('classifySsmError', () => {
  it('tells throttling, transient, rejected and unknown-outcome failures apart', () => {
    const sdkError = (name: string, status: number, fault: 'client' | 'server') => Object.assign(new Error(name), { name, $fault: fault, $metadata: { httpStatusCode: status } });
    expect(classifySsmError(sdkError('ThrottlingException', 400, 'client'))).toBe('throttled');
    expect(classifySsmError(sdkError('InternalServerError', 500, 'server'))).toBe('transient');
    expect(classifySsmError(sdkError('InvalidDocument', 400, 'client'))).toBe('rejected');
    expect(classifySsmError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe('transient');
    expect(classifySsmError(new SsmSendOutcomeUnknownError(new Error('x')))).toBe('outcome_unknown');
    expect(classifySsmError(Object.assign(new Error('stop'), { name: 'AbortError' }))).toBe('aborted');
    expect(classifySsmError(new Error('Region is missing'))).toBe('config');
    expect(classifySsmError(new TypeError('bug'))).toBe('unexpected');
  });
});

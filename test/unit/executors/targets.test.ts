import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExecutorError } from '../../../src/executors/contract.ts';
import { flattenAutomationOutputs, loadTargets, parseTargets, resolveTarget, TargetsFileError } from '../../../src/executors/targets.ts';

const VALID = `models:
  model-x: { backend: http, base_url: http://127.0.0.1:8480, auth_header_env: SERVING_API_TOKEN }
  model-batch:
    backend: ssm
    document: MlPlatform-RollbackModel
    parameters: { Environment: prod }
  default: { backend: http, base_url: https://serving-control.ml.internal }
services:
  model-serving: { backend: http, base_url: https://traffic.ml.internal }
`;

function failureOf(run: () => unknown): TargetsFileError {
  try {
    run();
  } catch (error) {
    if (error instanceof TargetsFileError) return error;
    throw error;
  }
  throw new Error('expected a TargetsFileError');
}

describe('parseTargets', () => {
  describe('when the file is valid', () => {
    it('returns every entry with its backend settings and where it is written', () => {
      const targets = parseTargets(VALID, 'targets.yaml');
      expect(targets.models.get('model-x')).toEqual({
        name: 'model-x',
        target: { backend: 'http', base_url: 'http://127.0.0.1:8480', auth_header_env: 'SERVING_API_TOKEN' },
        where: 'targets.yaml:2:3',
      });
      expect(targets.models.get('model-batch')?.target).toEqual({ backend: 'ssm', document: 'MlPlatform-RollbackModel', parameters: { Environment: 'prod' } });
      expect([...targets.services.keys()]).toEqual(['model-serving']);
    });

    it('reads an empty file as no entries', () => {
      const targets = parseTargets('', 'targets.yaml');
      expect(targets.models.size + targets.services.size).toBe(0);
    });

    it('accepts the shipped example', () => {
      const text = readFileSync(new URL('../../../targets.example.yaml', import.meta.url), 'utf8');
      expect(parseTargets(text, 'targets.example.yaml').services.get('inference-gateway')?.target).toMatchObject({ auth_header: 'X-Api-Key' });
    });
  });

  describe('when entries are invalid', () => {
    it('reports every problem at once with file:line:col', () => {
      const text = [
        'models:',
        '  model-x: { backend: http, base_url: not-a-url }',
        '  model-y:',
        '    backend: grpc',
        '  model-z: { backend: ssm, document: Doc, region: us-east-1 }',
        'service:',
        '  a: { backend: http, base_url: https://x }',
      ].join('\n');
      const error = failureOf(() => parseTargets(text, 'conf/targets.yaml'));
      expect(error.code).toBe('targets_file_invalid');
      expect(error.message).toContain('conf/targets.yaml:2:39 error [targets-invalid] models.model-x.base_url: expected an absolute http(s) URL');
      expect(error.message).toContain('conf/targets.yaml:4:14 error [targets-invalid] models.model-y.backend: expected `http` or `ssm`');
      expect(error.message).toContain('conf/targets.yaml:5:43 error [targets-invalid] models.model-z.region: unknown key: expected one of backend, document, parameters');
      expect(error.message).toContain('conf/targets.yaml:6:1 error [targets-invalid] service: unknown section: expected `models` or `services`');
      expect(error.diagnostics).toHaveLength(4);
    });

    it('refuses a secret written in the file instead of an environment variable name', () => {
      const error = failureOf(() => parseTargets('models:\n  m: { backend: http, base_url: "https://x", auth_header_env: "Bearer abc.def" }\n', 'targets.yaml'));
      expect(error.message).toMatch(/targets\.yaml:2:\d+ .*auth_header_env: expected an environment variable name/);
      expect(error.message).not.toContain('abc.def');
    });

    it('points at the line of a YAML syntax error', () => {
      const error = failureOf(() => parseTargets('models:\n  m: { backend: http\n  n: [\n', 'targets.yaml'));
      expect(error.message).toMatch(/^targets\.yaml is invalid/);
      expect(error.diagnostics[0]?.code).toBe('yaml-syntax');
      expect(error.diagnostics[0]?.location.line).toBeGreaterThanOrEqual(2);
    });
  });
});

describe('loadTargets', () => {
  it('reads the file at the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'targets-'));
    writeFileSync(join(dir, 'targets.yaml'), VALID);
    expect(loadTargets(join(dir, 'targets.yaml')).models.has('default')).toBe(true);
  });

  it('says how to fix a missing file', () => {
    const error = failureOf(() => loadTargets('/nonexistent/targets.yaml'));
    expect(error.code).toBe('targets_file_missing');
    expect(error.message).toBe('/nonexistent/targets.yaml: not found; create it (see targets.example.yaml) or set TARGETS_FILE');
  });
});

describe('resolveTarget', () => {
  const targets = parseTargets(VALID, 'targets.yaml');

  describe('when the step names no target', () => {
    it('uses the entry named like the model, then default', () => {
      expect(resolveTarget(targets, 'models', 'model-x').name).toBe('model-x');
      expect(resolveTarget(targets, 'models', 'model-unknown').name).toBe('default');
    });

    it('fails clearly when neither exists', () => {
      const run = () => resolveTarget(targets, 'services', 'checkout');
      expect(run).toThrow(ExecutorError);
      expect(run).toThrow('targets.yaml has no entry for `checkout` under `services:` and no `default` (entries: model-serving); add one, or name one with `target:`');
    });
  });

  describe('when the step names a target', () => {
    it('uses it, even when an entry is named like the model', () => {
      expect(resolveTarget(targets, 'models', 'model-x', 'model-batch').name).toBe('model-batch');
    });

    it('fails without falling back when it does not exist', () => {
      try {
        resolveTarget(targets, 'models', 'model-x', 'model-typo');
        expect.fail('expected an error');
      } catch (error) {
        expect(error).toMatchObject({ code: 'targets_entry_not_found', retryable: false });
        expect((error as Error).message).toBe('target `model-typo` is not an entry under `models:` in targets.yaml (entries: model-x, model-batch, default)');
      }
    });
  });
});

describe('flattenAutomationOutputs', () => {
  it('reads outputs by name and the fields of a JSON payload', () => {
    const outputs = { 'switch.FromVersion': ['v42'], 'main.Result': ['{"ToVersion":"v41","Weights":{"a":1}}'], 'shift.Weights': ['{"a":90,"b":10}'] };
    expect(flattenAutomationOutputs(outputs)).toMatchObject({
      FromVersion: 'v42', ToVersion: 'v41', Result: { ToVersion: 'v41', Weights: { a: 1 } }, Weights: { a: 90, b: 10 },
    });
  });
});

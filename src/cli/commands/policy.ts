/**
 * `runbook policy check` (validate `policy.yaml`, every problem with `file:line:col`) and
 * `runbook policy explain` (what would happen to a run, and why); plus loading the policy at start.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineLogger } from '../../engine/engine.ts';
import { formatDiagnostic } from '../../machines/diagnostics.ts';
import type { ExecutorCatalog } from '../../machines/executor-spec.ts';
import type { Runbook } from '../../machines/ir.ts';
import { parseParamAssignments, resolveParams } from '../../machines/params.ts';
import { decideAutoStart, decideRun, loadPolicy, PolicyInvalidError, readPolicyFile, type Policy, type RunDecision } from '../../policy/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliIo } from '../io.ts';
import { parseGroups } from '../local-user.ts';
import { displayPath, resolveRunbook } from '../runbook-files.ts';

/** The policy a process starts with; an invalid file refuses the start with every problem listed. */
export async function loadAppPolicy(file: string, logger: EngineLogger): Promise<Policy> {
  try {
    const loaded = await loadPolicy(file, displayPath(file));
    for (const notice of loaded.notices) logger.info({ policyFile: displayPath(file) }, notice);
    if (loaded.fromFile) logger.info({ policyFile: displayPath(file) }, 'policy loaded');
    return loaded.policy;
  } catch (error) {
    if (error instanceof PolicyInvalidError) throw new CliError('policy_invalid', error.message);
    throw error;
  }
}

/** The policy file: `--file`, else `POLICY_FILE`, else ./policy.yaml. */
export function policyFileOf(io: CliIo, flag: string | undefined): string {
  return resolve(io.cwd, flag ?? io.env['POLICY_FILE'] ?? 'policy.yaml');
}

/** `runbook policy check`: 0 when valid (warnings allowed), 1 on errors, 2 when there is no file. */
export async function policyCheckCommand(options: { file: string }, io: CliIo): Promise<number> {
  const shown = displayPath(options.file);
  const parsed = await readPolicyFile(options.file, shown);
  if (!parsed) throw new CliError('policy_not_found', `no policy file at ${shown} (without one, the built-in defaults apply: every run allowed, no freeze, no limits)`);
  for (const d of parsed.diagnostics) io.stdout(`${formatDiagnostic(d)}\n`);
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = parsed.diagnostics.length - errors;
  io.stdout(`${shown}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
  return errors > 0 ? 1 : 0;
}

export interface ExplainOptions {
  readonly file: string;
  readonly user: string;
  readonly groups: readonly string[];
  readonly runbook: string;
  readonly params: readonly string[];
  /** ISO time; default now. */
  readonly at?: string;
  readonly breakGlass: boolean;
  readonly runbooksDir: string;
  readonly format: 'text' | 'json';
}

/** `runbook policy explain`: the decision for one person, runbook and time, and why. Exit 0, or 3 when the policy would deny it (for scripts). */
export async function policyExplainCommand(options: ExplainOptions, catalog: ExecutorCatalog, io: CliIo, now = Date.now()): Promise<number> {
  const policy = (await loadPolicy(options.file, displayPath(options.file)).catch((error: unknown) => {
    if (error instanceof PolicyInvalidError) throw new CliError('policy_invalid', error.message, 1);
    throw error;
  })).policy;
  const at = options.at === undefined ? now : Date.parse(options.at);
  if (!Number.isFinite(at)) throw new CliError('usage', `--at must be a time such as 2026-12-24T10:00:00Z; got ${JSON.stringify(options.at)}`);
  const loaded = await resolveRunbook(options.runbook, options.runbooksDir, catalog);
  if (!loaded.runbook) throw new CliError('runbook_invalid', `${loaded.file} has errors; run \`runbook lint ${loaded.file}\``);
  const runbook = loaded.runbook;
  const assigned = parseParamAssignments(options.params);
  if (assigned.errors.length > 0) throw new CliError('runbook_param_invalid', assigned.errors.map((e) => `--param: ${e}`).join('\n'));
  const params = resolveParams(runbook, assigned.values);
  if (!params.ok) throw new CliError('runbook_param_invalid', params.problems.map((p) => p.message).join('\n'));
  const person = { id: options.user, ...(options.groups.length > 0 ? { groups: options.groups } : {}) };
  const decision = decideRun({ policy, person, runbook, params: params.values, at, breakGlass: options.breakGlass });
  const autoStart = decideAutoStart({ policy, runbook });
  if (options.format === 'json') {
    io.stdout(`${JSON.stringify({ policy: policy.file, person, runbook: runbook.id, at: new Date(at).toISOString(), breakGlass: options.breakGlass, decision, autoStart }, null, 2)}\n`);
  } else {
    io.stdout(explainText(policy, runbook, person, at, options.breakGlass, decision, autoStart));
  }
  return decision.outcome === 'deny' ? 3 : 0;
}

function explainText(policy: Policy, runbook: Runbook, person: { id: string; groups?: readonly string[] }, at: number, breakGlass: boolean, decision: RunDecision, autoStart: ReturnType<typeof decideAutoStart>): string {
  const mutating = runbook.steps.filter((s) => s.mutating).map((s) => s.id);
  const requirement = decision.approvalRequirement;
  const lines = [
    `policy:    ${policy.file}`,
    `runbook:   ${runbook.id}${runbook.environment ? ` (environment ${runbook.environment})` : ''}${runbook.tags.length > 0 ? `, tags ${runbook.tags.join(', ')}` : ''}`,
    `           ${mutating.length > 0 ? `mutating steps: ${mutating.join(', ')}` : 'read-only: no mutating steps'}`,
    `person:    ${person.id}${person.groups ? ` (groups ${person.groups.join(', ')})` : ''}`,
    `at:        ${new Date(at).toISOString()}${breakGlass ? ', break-glass' : ''}`,
    '',
    `decision:  ${decision.outcome.toUpperCase().replace('_', ' ')}`,
    `rule:      ${decision.rule}`,
    `why:       ${decision.reason}`,
    `freeze:    ${decision.freeze ? `${decision.freeze.window} is on (${decision.freeze.timezone}; ${decision.freeze.rule})${mutating.length === 0 ? ': does not apply to read-only runs' : ''}` : 'no freeze window is on'}`,
    `approval:  ${requirement ? `${requirement.quorum} from ${requirement.roles ? requirement.roles.join(', ') : 'anyone'}${requirement.excludeRequester ? ', requester excluded' : ''} (${requirement.rule})${requirement.gates.length > 0 ? `; collected at ${requirement.gates.join(', ')}` : ''}` : 'no policy requirement (the runbook\'s own gates apply)'}`,
    `limits:    ${decision.blastRadius.length > 0 ? decision.blastRadius.map((v) => `${v.message} (${v.rule})`).join('; ') : 'within the blast-radius limits'}`,
    `pagerduty: ${autoStart.allowed ? 'may auto-start' : 'may not auto-start'} (${autoStart.rule}): ${autoStart.reason}`,
    `help:      ${decision.helpers.length > 0 ? decision.helpers.join(', ') : 'nobody named by the policy'}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** `runbook policy check|explain …`: parses the subcommand's flags. */
export async function policyCommand(args: readonly string[], io: CliIo, catalog: ExecutorCatalog): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'check') {
    const { values } = parseArgs({ args: rest, allowPositionals: false, options: { file: { type: 'string' } } });
    return policyCheckCommand({ file: policyFileOf(io, values.file) }, io);
  }
  if (sub === 'explain') {
    const { values } = parseArgs({
      args: rest,
      allowPositionals: false,
      options: {
        file: { type: 'string' },
        user: { type: 'string' },
        groups: { type: 'string' },
        runbook: { type: 'string' },
        param: { type: 'string', short: 'p', multiple: true, default: [] },
        at: { type: 'string' },
        'break-glass': { type: 'boolean', default: false },
        format: { type: 'string', default: 'text' },
      },
    });
    if (!values.user) throw new CliError('usage', 'expected --user: a Slack user id (U024BE7LH) or cli:NAME');
    if (!values.runbook) throw new CliError('usage', 'expected --runbook: a runbook id, file or Slack command');
    if (values.format !== 'text' && values.format !== 'json') throw new CliError('usage', `--format must be one of text, json; got ${JSON.stringify(values.format)}`);
    return policyExplainCommand({
      file: policyFileOf(io, values.file), user: values.user, groups: parseGroups(values.groups), runbook: values.runbook, params: values.param,
      ...(values.at !== undefined ? { at: values.at } : {}), breakGlass: values['break-glass'], runbooksDir: resolve(io.cwd, io.env['RUNBOOKS_DIR'] ?? 'runbooks'), format: values.format,
    }, catalog, io);
  }
  throw new CliError('usage', `expected \`policy check [--file F]\` or \`policy explain --user U --runbook X …\`; got ${JSON.stringify(sub ?? '')}`);
}

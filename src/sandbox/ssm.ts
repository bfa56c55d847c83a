/**
 * A loopback stand-in for AWS Systems Manager that speaks the real `awsJson1_1` protocol, so the
 * real `@aws-sdk/client-ssm` talks to it over HTTP (tests and `runbook dev`). It simulates a tagged
 * fleet on which Run Command invocations progress Pending → InProgress → terminal, and Automation
 * executions with ClientToken idempotency. Nothing is ever executed: for `AWS-RunShellScript` the
 * "instance" reports, as JSON on stdout, the environment it decoded from the executor's base64
 * prelude and the remaining command text, so tests can see exactly what an instance would receive.
 * `state` scripts faults (failing targets, throttling, lost replies) and records every request.
 */
import { listenOnLoopback } from './loopback-server.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';

/** A simulated managed node. */
export interface StandInInstance {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** Options of {@link startSsmStandIn}. */
export interface SsmStandInOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Loopback only. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  /** @default three instances tagged `role=model-serving` */
  readonly instances?: readonly StandInInstance[];
  /** The status read (of a command or automation) that first sees it terminal; earlier reads see Pending, then InProgress. @default 3 */
  readonly completeAfterPolls?: number;
  /** When set, terminal this many ms after creation instead of after `completeAfterPolls` reads. */
  readonly completeAfterMs?: number;
}

/** One request as the stand-in received it. */
export interface ReceivedRequest {
  readonly operation: string;
  readonly body: Record<string, unknown>;
  /** `throttled`: answered ThrottlingException; `dropped`: processed, then the socket was destroyed unanswered. */
  outcome: 'ok' | 'error' | 'throttled' | 'dropped';
}

/** A Run Command the stand-in accepted. */
export interface StandInCommand {
  readonly commandId: string;
  readonly documentName: string;
  readonly comment: string;
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  readonly instanceIds: readonly string[];
  readonly maxErrors: string;
  readonly body: Record<string, unknown>;
  readonly createdMs: number;
  reads: number;
  /** Status reads still to answer as if the command did not exist (SSM is eventually consistent). */
  hiddenReads: number;
  cancelled: boolean;
}

interface StandInAutomation {
  readonly id: string; readonly fingerprint: string; readonly body: Record<string, unknown>; readonly createdMs: number; readonly failure: string | undefined;
  reads: number;
  stopped: boolean;
}

type ScriptedResult = { readonly stdout?: string; readonly stderr?: string; readonly responseCode?: number; readonly fail?: boolean };

/** The stand-in's recorded traffic, simulated world and fault controls. */
export interface SsmStandInState {
  readonly requests: ReceivedRequest[];
  readonly commands: StandInCommand[];
  readonly instances: StandInInstance[];
  /** The bodies of every request for `operation`, in order. */
  requestsFor(operation: string): Record<string, unknown>[];
  /** Makes `instanceId` fail every later command (exit `responseCode`, default 1). */
  failTarget(instanceId: string, result?: { responseCode?: number; stderr?: string }): void;
  /** Replaces the fake output of `instanceId` (e.g. to exercise capping). */
  setOutput(instanceId: string, result: { stdout?: string; stderr?: string }): void;
  /** Answers the next `count` requests (of `operation`, or any) with `ThrottlingException`. */
  throttleNext(count: number, operation?: string): void;
  /** Processes the next request of `operation`, then destroys the socket without answering. */
  dropNextReply(operation: string): void;
  /** Makes the next command invisible to its first `reads` status reads (InvalidCommandId, InvocationDoesNotExist). */
  hideNextCommand(reads: number): void;
  /** Makes the next automation started fail with `message`. */
  failNextAutomation(message?: string): void;
}

/** A running stand-in. `close()` is idempotent. */
export interface SsmStandIn {
  readonly url: string;
  readonly state: SsmStandInState;
  close(): Promise<void>;
}

type Body = Record<string, unknown>;
type Reply = { readonly status: 200; readonly body: unknown } | { readonly status: 400; readonly type: string; readonly message: string };

const DEFAULT_INSTANCES: readonly StandInInstance[] = ['i-0a1b2c3d4e5f60001', 'i-0a1b2c3d4e5f60002', 'i-0a1b2c3d4e5f60003'].map((id) => ({ id, tags: { role: 'model-serving' } }));
const SHELL_DOCUMENT = 'AWS-RunShellScript';
// The executor's env prelude line (src/executors/ssm.ts): NAME="$(printf %s '<base64>' | base64 -d; printf .)"; export NAME="${NAME%.}"
const ENV_LINE = /^([A-Za-z_][A-Za-z0-9_]*)="\$\(printf %s '([A-Za-z0-9+/=]*)' \| base64 -d; printf \.\)"; export \1="\$\{\1%\.\}"$/;
const fail = (type: string, message: string): Reply => ({ status: 400, type, message });
const ok = (body: unknown): Reply => ({ status: 200, body });
const epochSeconds = (ms: number): number => ms / 1000;
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');
/** JSON with object keys sorted at every level: equal requests, equal text. */
const canonical = (value: unknown): string =>
  Array.isArray(value) ? `[${value.map(canonical).join(',')}]`
    : typeof value === 'object' && value !== null ? `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Body)[k])}`).join(',')}}`
      : JSON.stringify(value);

/** Starts the stand-in on loopback; resolves once it listens. */
export async function startSsmStandIn(options: SsmStandInOptions = {}): Promise<SsmStandIn> {
  const world = createWorld(options);
  const server = await listenOnLoopback((req, res) => void handle(world, req, res), options);
  return { url: server.base, state: world.state, close: server.close };
}

interface World {
  readonly state: SsmStandInState;
  readonly options: SsmStandInOptions;
  readonly scripted: Map<string, ScriptedResult>;
  readonly automations: Map<string, StandInAutomation>;
  readonly tokens: Map<string, string>;
  faults: { throttle: number; throttleOp: string | undefined; drop: Set<string>; automationFailure: string | undefined; hide: number };
}

function createWorld(options: SsmStandInOptions): World {
  const scripted = new Map<string, ScriptedResult>();
  const faults: World['faults'] = { throttle: 0, throttleOp: undefined, drop: new Set(), automationFailure: undefined, hide: 0 };
  const state: SsmStandInState = {
    requests: [],
    commands: [],
    instances: [...(options.instances ?? DEFAULT_INSTANCES)],
    requestsFor: (operation) => state.requests.filter((r) => r.operation === operation).map((r) => r.body),
    failTarget: (id, result = {}) => scripted.set(id, { ...scripted.get(id), ...result, fail: true }),
    setOutput: (id, result) => scripted.set(id, { ...scripted.get(id), ...result }),
    throttleNext: (count, operation) => Object.assign(faults, { throttle: count, throttleOp: operation }),
    dropNextReply: (operation) => faults.drop.add(operation),
    hideNextCommand: (reads) => (faults.hide = reads),
    failNextAutomation: (message = 'Step fails when it is Executing. Fail: simulated failure') => (faults.automationFailure = message),
  };
  return { state, options, scripted, automations: new Map(), tokens: new Map(), faults };
}

async function handle(world: World, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const operation = text(req.headers['x-amz-target']).replace(/^AmazonSSM\./, '');
  let body: Body = {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Body;
  } catch {
    return send(res, fail('SerializationException', 'the body is not JSON'));
  }
  const received: ReceivedRequest = { operation, body, outcome: 'ok' };
  world.state.requests.push(received);
  const { faults } = world;
  if (faults.throttle > 0 && (faults.throttleOp === undefined || faults.throttleOp === operation)) {
    faults.throttle -= 1;
    received.outcome = 'throttled';
    return send(res, fail('ThrottlingException', 'Rate exceeded'));
  }
  const reply = dispatch(world, operation, body);
  if (faults.drop.delete(operation)) {
    received.outcome = 'dropped';
    req.socket.destroy();
    return;
  }
  if (reply.status !== 200) received.outcome = 'error';
  send(res, reply);
}

function send(res: ServerResponse, reply: Reply): void {
  const payload = reply.status === 200 ? reply.body : { __type: reply.type, message: reply.message };
  res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify(payload));
}

function dispatch(world: World, operation: string, body: Body): Reply {
  switch (operation) {
    case 'SendCommand': return sendCommand(world, body);
    case 'ListCommands': return listCommands(world, body);
    case 'ListCommandInvocations': return listInvocations(world, body);
    case 'GetCommandInvocation': return getInvocation(world, body);
    case 'CancelCommand': return cancelCommand(world, body);
    case 'StartAutomationExecution': return startAutomation(world, body);
    case 'GetAutomationExecution': return getAutomation(world, body);
    case 'StopAutomationExecution': return stopAutomation(world, body);
    case 'DescribeInstanceInformation': return ok({ InstanceInformationList: world.state.instances.map((i) => ({ InstanceId: i.id, PingStatus: 'Online', PlatformType: 'Linux' })) });
    default: return fail('UnknownOperationException', `the stand-in does not implement ${operation || '(no X-Amz-Target)'}`);
  }
}

function sendCommand(world: World, body: Body): Reply {
  const documentName = text(body['DocumentName']);
  if (!documentName) return fail('InvalidDocument', 'DocumentName is required');
  const known = new Set(world.state.instances.map((i) => i.id));
  const listed = strings(body['InstanceIds']);
  const unknown = listed.find((id) => !known.has(id));
  if (unknown) return fail('InvalidInstanceId', `${unknown} is not a managed instance`);
  const targets = Array.isArray(body['Targets']) ? (body['Targets'] as Body[]) : [];
  const instanceIds = listed.length > 0 ? listed : world.state.instances.filter((i) => targets.every((t) => matches(i, t))).map((i) => i.id);
  const parameters = Object.fromEntries(Object.entries((body['Parameters'] ?? {}) as Body).map(([k, v]) => [k, strings(v)]));
  const command: StandInCommand = {
    commandId: randomUUID(), documentName, comment: text(body['Comment']), parameters, instanceIds,
    maxErrors: text(body['MaxErrors']) || '0', body, createdMs: Date.now(), reads: 0, hiddenReads: world.faults.hide, cancelled: false,
  };
  world.faults.hide = 0;
  world.state.commands.push(command);
  return ok({ Command: commandShape(world, command) });
}

function matches(instance: StandInInstance, target: Body): boolean {
  const key = text(target['Key']);
  const values = strings(target['Values']);
  if (key === 'InstanceIds') return values.includes(instance.id);
  if (key === 'tag-key') return values.some((v) => v in instance.tags);
  const tag = instance.tags[key.replace(/^tag:/, '')];
  return key.startsWith('tag:') && tag !== undefined && values.includes(tag);
}

/** `reads` counts status reads so far, the current one included: the first sees Pending, then InProgress until done. */
function phaseOf(world: World, created: number, reads: number): 'Pending' | 'InProgress' | 'Done' {
  const { completeAfterMs, completeAfterPolls = 3 } = world.options;
  const done = completeAfterMs !== undefined ? Date.now() - created >= completeAfterMs : reads >= completeAfterPolls;
  return done ? 'Done' : reads <= 1 ? 'Pending' : 'InProgress';
}

function invocationStatus(world: World, command: StandInCommand, instanceId: string): string {
  if (command.cancelled) return 'Cancelled';
  const phase = phaseOf(world, command.createdMs, command.reads);
  if (phase !== 'Done') return phase;
  return world.scripted.get(instanceId)?.fail ? 'Failed' : 'Success';
}

function commandShape(world: World, command: StandInCommand): Body {
  const statuses = command.instanceIds.map((id) => invocationStatus(world, command, id));
  const done = statuses.filter((s) => s !== 'Pending' && s !== 'InProgress');
  const errors = done.filter((s) => s !== 'Success').length;
  const allowed = /%$/.test(command.maxErrors) ? Math.floor((Number.parseInt(command.maxErrors, 10) / 100) * statuses.length) : Number(command.maxErrors);
  const finished = done.length === statuses.length;
  const status = !finished ? (done.length > 0 || command.reads > 1 ? 'InProgress' : 'Pending') : command.cancelled ? 'Cancelled' : errors > allowed ? 'Failed' : 'Success';
  return {
    CommandId: command.commandId, DocumentName: command.documentName, Comment: command.comment, Parameters: command.parameters,
    InstanceIds: strings(command.body['InstanceIds']), Targets: command.body['Targets'] ?? [], RequestedDateTime: epochSeconds(command.createdMs),
    Status: status, StatusDetails: status, MaxConcurrency: text(command.body['MaxConcurrency']) || '50', MaxErrors: command.maxErrors,
    TargetCount: statuses.length, CompletedCount: done.length, ErrorCount: errors, DeliveryTimedOutCount: 0,
    TimeoutSeconds: command.body['TimeoutSeconds'] ?? 3600,
  };
}

const findCommand = (world: World, id: unknown): StandInCommand | undefined => world.state.commands.find((c) => c.commandId === id);

function page<T>(items: readonly T[], body: Body, key: string): Body {
  const start = Number(text(body['NextToken']) || 0);
  const end = start + (typeof body['MaxResults'] === 'number' ? body['MaxResults'] : 50);
  return { [key]: items.slice(start, end), ...(end < items.length ? { NextToken: String(end) } : {}) };
}

function listCommands(world: World, body: Body): Reply {
  const filters = (Array.isArray(body['Filters']) ? body['Filters'] : []) as Body[];
  let commands = [...world.state.commands].reverse();
  if (body['CommandId'] !== undefined) {
    const command = findCommand(world, body['CommandId']);
    if (!command || command.hiddenReads-- > 0) return fail('InvalidCommandId', 'no such command');
    command.reads += 1;
    commands = [command];
  }
  for (const filter of filters) {
    const value = text(filter['value']);
    const key = text(filter['key']);
    if (key === 'DocumentName') commands = commands.filter((c) => c.documentName === value);
    else if (key === 'InvokedAfter') commands = commands.filter((c) => c.createdMs >= Date.parse(value));
    else if (key === 'InvokedBefore') commands = commands.filter((c) => c.createdMs <= Date.parse(value));
    else if (key !== 'Status') return fail('InvalidFilterKey', `unsupported filter ${key}`);
  }
  const shapes = commands.map((c) => commandShape(world, c));
  const status = filters.find((f) => f['key'] === 'Status');
  return ok(page(status ? shapes.filter((s) => s['Status'] === status['value']) : shapes, body, 'Commands'));
}

function outputOf(world: World, command: StandInCommand, instanceId: string): { stdout: string; stderr: string; code: number } {
  const status = invocationStatus(world, command, instanceId);
  if (status !== 'Success' && status !== 'Failed') return { stdout: '', stderr: '', code: -1 };
  const scripted = world.scripted.get(instanceId) ?? {};
  const code = scripted.fail ? (scripted.responseCode ?? 1) : 0;
  return { stdout: scripted.stdout ?? fakeStdout(command, instanceId), stderr: scripted.stderr ?? '', code };
}

/** What the "instance" reports instead of running anything: the env it decoded and the rest of the script. */
function fakeStdout(command: StandInCommand, instanceId: string): string {
  if (command.documentName !== SHELL_DOCUMENT) return `${JSON.stringify({ instance: instanceId, document: command.documentName, parameters: command.parameters })}\n`;
  const env: Record<string, string> = {};
  const commands: string[] = [];
  for (const line of (command.parameters['commands'] ?? []).flatMap((c) => c.split('\n'))) {
    const m = ENV_LINE.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = Buffer.from(m[2], 'base64').toString('utf8');
    else commands.push(line);
  }
  return `${JSON.stringify({ instance: instanceId, env, commands })}\n`;
}

function invocationShape(world: World, command: StandInCommand, instanceId: string, details: boolean): Body {
  const status = invocationStatus(world, command, instanceId);
  const { stdout, stderr, code } = outputOf(world, command, instanceId);
  const plugin = { Name: 'aws:runShellScript', Status: status, StatusDetails: status, ResponseCode: code, Output: `${stdout}${stderr}`.slice(0, 2500), ResponseStartDateTime: epochSeconds(command.createdMs) };
  return {
    CommandId: command.commandId, InstanceId: instanceId, InstanceName: '', Comment: command.comment, DocumentName: command.documentName,
    RequestedDateTime: epochSeconds(command.createdMs), Status: status, StatusDetails: status, ...(details ? { CommandPlugins: [plugin] } : {}),
  };
}

function listInvocations(world: World, body: Body): Reply {
  const command = findCommand(world, body['CommandId']);
  if (!command) return fail('InvalidCommandId', 'no such command');
  command.reads += 1;
  const ids = command.instanceIds.filter((id) => body['InstanceId'] === undefined || id === body['InstanceId']);
  return ok(page(ids.map((id) => invocationShape(world, command, id, body['Details'] === true)), body, 'CommandInvocations'));
}

function getInvocation(world: World, body: Body): Reply {
  const command = findCommand(world, body['CommandId']);
  const instanceId = text(body['InstanceId']);
  if (!command || !command.instanceIds.includes(instanceId) || command.hiddenReads-- > 0) return fail('InvocationDoesNotExist', 'no such invocation');
  command.reads += 1;
  const status = invocationStatus(world, command, instanceId);
  const { stdout, stderr, code } = outputOf(world, command, instanceId);
  return ok({
    CommandId: command.commandId, InstanceId: instanceId, Comment: command.comment, DocumentName: command.documentName, PluginName: 'aws:runShellScript',
    ResponseCode: code, Status: status, StatusDetails: status, StandardOutputContent: stdout.slice(0, 24_000), StandardErrorContent: stderr.slice(0, 8_000),
    ExecutionStartDateTime: new Date(command.createdMs).toISOString(), ExecutionEndDateTime: '', StandardOutputUrl: '', StandardErrorUrl: '',
  });
}

function cancelCommand(world: World, body: Body): Reply {
  const command = findCommand(world, body['CommandId']);
  if (!command) return fail('InvalidCommandId', 'no such command');
  // Only invocations still running are cancelled; a finished command keeps its results.
  command.cancelled ||= ['Pending', 'InProgress'].includes(text(commandShape(world, command)['Status']));
  return ok({});
}

function startAutomation(world: World, body: Body): Reply {
  if (!text(body['DocumentName'])) return fail('AutomationDefinitionNotFoundException', 'DocumentName is required');
  const token = text(body['ClientToken']).toLowerCase();
  const { ClientToken: _token, ...request } = body;
  const fingerprint = canonical(request);
  const existing = token ? world.automations.get(world.tokens.get(token) ?? '') : undefined;
  if (existing) {
    return existing.fingerprint === fingerprint ? ok({ AutomationExecutionId: existing.id }) : fail('IdempotentParameterMismatch', 'ClientToken was used with other parameters');
  }
  const automation: StandInAutomation = {
    id: randomUUID(), fingerprint, body, createdMs: Date.now(), failure: world.faults.automationFailure, reads: 0, stopped: false,
  };
  world.faults.automationFailure = undefined;
  world.automations.set(automation.id, automation);
  if (token) world.tokens.set(token, automation.id);
  return ok({ AutomationExecutionId: automation.id });
}

function getAutomation(world: World, body: Body): Reply {
  const automation = world.automations.get(text(body['AutomationExecutionId']));
  if (!automation) return fail('AutomationExecutionNotFoundException', 'no such execution');
  automation.reads += 1;
  const phase = phaseOf(world, automation.createdMs, automation.reads);
  const status = automation.stopped ? 'Cancelled' : phase !== 'Done' ? phase : automation.failure ? 'Failed' : 'Success';
  const parameters = (automation.body['Parameters'] ?? {}) as Body;
  const outputs = status === 'Success' ? { 'main.Result': [JSON.stringify(parameters)] } : {};
  const step = { StepName: 'main', Action: 'aws:executeScript', StepStatus: status, Outputs: outputs, ...(status === 'Failed' ? { FailureMessage: automation.failure } : {}) };
  return ok({
    AutomationExecution: {
      AutomationExecutionId: automation.id, DocumentName: automation.body['DocumentName'], DocumentVersion: '1', AutomationExecutionStatus: status,
      ExecutionStartTime: epochSeconds(automation.createdMs), Parameters: parameters, Outputs: outputs, StepExecutions: [step], StepExecutionsTruncated: false,
      ...(status === 'Failed' ? { FailureMessage: automation.failure } : {}), Mode: 'Auto',
    },
  });
}

function stopAutomation(world: World, body: Body): Reply {
  const automation = world.automations.get(text(body['AutomationExecutionId']));
  if (!automation) return fail('AutomationExecutionNotFoundException', 'no such execution');
  automation.stopped = true;
  return ok({});
}

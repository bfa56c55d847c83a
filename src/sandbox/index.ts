/**
 * The sandbox: every loopback stand-in the shipped runbooks talk to, started together, and the
 * environment that points an unmodified bot at them. Wiring is configuration only:
 *
 * - `SANDBOX_HOSTS` maps each production host (`serving-control.ml.internal`, `metrics.ml.internal`,
 *   …) to its stand-in, for the `http` executor's `resolveUrl` (see `hosts.ts`);
 * - `TARGETS_FILE` is a generated `targets.yaml` whose entries are the serving and traffic stand-ins;
 * - `AWS_ENDPOINT_URL_SSM`, `AWS_REGION` and fake credentials send the real AWS SDK to the SSM
 *   stand-in (the developer's `~/.aws` is not read);
 * - `SLACK_API_URL`, `PAGERDUTY_API_URL` and their tokens and From address for the Slack and
 *   PagerDuty stand-ins (`slack.ts`, `pagerduty.ts`).
 *
 * Used by tests and `runbook sandbox`; nothing here listens beyond 127.0.0.1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startServingControlStandIn, startTrafficManagerStandIn,
  type ControlStandIn, type ModelFixture, type ServiceFixture, type ServingControlState, type TrafficManagerState,
} from './control-apis.ts';
import { SANDBOX_HOSTS_ENV, formatHostMapping } from './hosts.ts';
import { ML_PLATFORM_HOSTS, fail, ok, startJsonStandIn, startMlPlatform, type MlPlatform, type MlPlatformOptions, type PlatformStandIn } from './ml-platform.ts';
import { startPagerDutyStandIn, type PagerDutyStandInOptions, type PagerDutyStandInState } from './pagerduty.ts';
import { startSlackStandIn, type SlackStandInOptions, type SlackStandInState } from './slack.ts';
import { startSsmStandIn, type SsmStandIn, type SsmStandInOptions, type StandInInstance } from './ssm.ts';

/** The production hosts of the control APIs, served by `control-apis.ts`. */
export const CONTROL_HOSTS = { serving: 'serving-control.ml.internal', traffic: 'traffic-control.ml.internal' } as const;

/** Options of {@link startSandbox}; every default is what the shipped runbooks' examples use. */
export interface SandboxOptions {
  /** Models the serving stand-in knows. @default model-x, deployed v40 → v41 → v42 (v42 serving) */
  readonly models?: Readonly<Record<string, ModelFixture>>;
  /** Services the traffic stand-in knows. @default inference-gateway and model-serving, 100% us-east-1, 0% us-west-2 */
  readonly services?: Readonly<Record<string, ServiceFixture>>;
  /** Registry, metrics, monitoring and feature fixtures. @default registry versions from `models` */
  readonly platform?: MlPlatformOptions;
  /** @default three instances tagged ml-model=<first model>, environment=production, role=model-serving */
  readonly instances?: readonly StandInInstance[];
  readonly ssm?: Pick<SsmStandInOptions, 'completeAfterPolls' | 'completeAfterMs'>;
  /** @default the channels the shipped runbooks post to, unknown channels refused */
  readonly slack?: Omit<SlackStandInOptions, 'port' | 'host' | 'tokens'>;
  /** @default the stand-in's services plus the registry's owning-team service PRANK01, and the runbooks' escalation policies */
  readonly pagerduty?: Omit<PagerDutyStandInOptions, 'port' | 'host' | 'tokens'>;
  /** Where `targets.yaml` is written. @default a new temp directory, removed by `close()` */
  readonly dir?: string;
}

/** Every stand-in's state, for tests to script and inspect. */
export interface SandboxState {
  readonly serving: ServingControlState;
  readonly traffic: TrafficManagerState;
  readonly ssm: SsmStandIn['state'];
  readonly platform: MlPlatform;
  /** The serving control API's `replicas` route (the rest of that host is `serving`). */
  readonly servingReplicas: PlatformStandIn;
  readonly slack: SlackStandInState;
  readonly pagerduty: PagerDutyStandInState;
}

/** A running sandbox; `close()` is idempotent. */
export interface Sandbox {
  /** The environment for bot processes: SANDBOX_HOSTS, TARGETS_FILE, AWS_*, SLACK_*, PAGERDUTY_*, control API tokens. */
  readonly env: Readonly<Record<string, string>>;
  readonly state: SandboxState;
  /** Production host → loopback base URL (what `SANDBOX_HOSTS` holds). */
  readonly hosts: Readonly<Record<string, string>>;
  readonly targetsFile: string;
  close(): Promise<void>;
}

/** Tokens the stand-ins accept; never real secrets. */
const FAKE_SECRETS = {
  SERVING_API_TOKEN: 'sandbox-serving-token',
  TRAFFIC_API_TOKEN: 'sandbox-traffic-token',
  AWS_ACCESS_KEY_ID: 'AKIASANDBOXEXAMPLE01',
  AWS_SECRET_ACCESS_KEY: 'sandbox-secret-access-key',
  SLACK_BOT_TOKEN: 'xoxb-sandbox-0000',
  SLACK_SIGNING_SECRET: 'sandbox-signing-secret',
  PAGERDUTY_TOKEN: 'sandbox-pagerduty-token',
  PAGERDUTY_WEBHOOK_SECRET: 'sandbox-webhook-secret',
} as const;
const DEFAULT_MODELS: Readonly<Record<string, ModelFixture>> = { 'model-x': { history: ['v40', 'v41', 'v42'] } };
const DEFAULT_WEIGHTS = { weights: { 'us-east-1': 100, 'us-west-2': 0 } };
const DEFAULT_CHANNELS = [
  { id: 'C0GENERAL1', name: 'general' }, { id: 'C0MLINC001', name: 'ml-incidents' }, { id: 'C0MLONC001', name: 'ml-oncall' },
  { id: 'C0MLFEAT01', name: 'ml-features' }, { id: 'C0MLMON001', name: 'ml-monitoring' },
];
const DEFAULT_PD_SERVICES = [
  { id: 'PSVC001', name: 'model-serving', escalationPolicyId: 'PEP0001' }, { id: 'PSVC002', name: 'feature-pipeline', escalationPolicyId: 'PEP0001' },
  { id: 'PSVC003', name: 'model-monitoring', escalationPolicyId: 'PEP0001' }, { id: 'PRANK01', name: 'ml-ranking', escalationPolicyId: 'PABC123' },
];
// The escalation policies the shipped runbooks' approval escalations page.
const DEFAULT_PD_POLICIES = [
  { id: 'PEP0001', name: 'ML on-call', levels: 3 }, { id: 'PABC123', name: 'ML leads', levels: 2 },
  { id: 'PK3ML7Q', name: 'ML on-call leads', levels: 2 }, { id: 'PSRE4IC', name: 'SRE incident commanders', levels: 2 },
];

/** Starts every stand-in on 127.0.0.1 and writes the sandbox's `targets.yaml`. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const closers: (() => Promise<void>)[] = [];
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'runbook-sandbox-'));
  if (ownsDir) closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const track = <T extends { close(): Promise<void> }>(standIn: T): T => (closers.unshift(() => standIn.close()), standIn);
  const closeAll = async () => {
    for (const close of closers) await close().catch(() => undefined);
  };
  try {
    const models = options.models ?? DEFAULT_MODELS;
    const serving = track(await startServingControlStandIn({ models }));
    const traffic = track(await startTrafficManagerStandIn({ services: options.services ?? { 'inference-gateway': DEFAULT_WEIGHTS, 'model-serving': DEFAULT_WEIGHTS } }));
    const replicas = track(await startJsonStandIn([replicasRoute(serving)], serving.url));
    const ssm = track(await startSsmStandIn({ ...options.ssm, instances: options.instances ?? defaultInstances(Object.keys(models)[0] ?? 'model-x') }));
    const platformModels = Object.fromEntries(Object.entries(models).map(([name, m]) => [name, { versions: m.versions ?? m.history }]));
    const platform = track(await startMlPlatform({ models: platformModels, ...options.platform }));
    const slack = track(await startSlackStandIn({ channels: DEFAULT_CHANNELS, strictChannels: true, ...options.slack, tokens: [FAKE_SECRETS.SLACK_BOT_TOKEN] }));
    const pagerduty = track(await startPagerDutyStandIn({ services: DEFAULT_PD_SERVICES, escalationPolicies: DEFAULT_PD_POLICIES, ...options.pagerduty, tokens: [FAKE_SECRETS.PAGERDUTY_TOKEN] }));

    const hosts: Record<string, string> = { [CONTROL_HOSTS.serving]: replicas.url, [CONTROL_HOSTS.traffic]: traffic.url };
    for (const [name, host] of Object.entries(ML_PLATFORM_HOSTS)) hosts[host] = platform.standIns[name as keyof typeof ML_PLATFORM_HOSTS].url;
    const targetsFile = join(dir, 'targets.yaml');
    writeFileSync(targetsFile, targetsYaml(replicas.url, traffic.url));
    const env: Record<string, string> = {
      [SANDBOX_HOSTS_ENV]: formatHostMapping(hosts),
      TARGETS_FILE: targetsFile,
      SERVING_API_TOKEN: FAKE_SECRETS.SERVING_API_TOKEN,
      TRAFFIC_API_TOKEN: FAKE_SECRETS.TRAFFIC_API_TOKEN,
      AWS_ENDPOINT_URL_SSM: ssm.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: FAKE_SECRETS.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: FAKE_SECRETS.AWS_SECRET_ACCESS_KEY,
      // The developer's ~/.aws (profiles, SSO, real regions) must not leak into a sandboxed process.
      AWS_CONFIG_FILE: join(dir, 'aws-config-none'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws-credentials-none'),
      AWS_EC2_METADATA_DISABLED: 'true',
      SLACK_API_URL: slack.url,
      SLACK_BOT_TOKEN: FAKE_SECRETS.SLACK_BOT_TOKEN,
      SLACK_SIGNING_SECRET: FAKE_SECRETS.SLACK_SIGNING_SECRET,
      PAGERDUTY_API_URL: pagerduty.url,
      PAGERDUTY_TOKEN: FAKE_SECRETS.PAGERDUTY_TOKEN,
      PAGERDUTY_WEBHOOK_SECRET: FAKE_SECRETS.PAGERDUTY_WEBHOOK_SECRET,
      PAGERDUTY_FROM: 'runbook-bot@example.com',
    };
    let closing: Promise<void> | undefined;
    return {
      env, hosts, targetsFile,
      state: { serving: serving.state, traffic: traffic.state, ssm: ssm.state, platform, servingReplicas: replicas, slack: slack.state, pagerduty: pagerduty.state },
      close: () => (closing ??= closeAll()),
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** `GET /v1/models/{model}/replicas` of the serving control API, read from the serving stand-in's world. */
function replicasRoute(serving: ControlStandIn<ServingControlState>) {
  return ['GET', /^\/v1\/models\/([^/]+)\/replicas$/, (_request: unknown, [name = '']: readonly string[]) => {
    const model = serving.state.models.get(name);
    if (!model) return fail(404, 'model_not_found', `no model ${name}`);
    const desired = model.fixture.replicas ?? 3;
    return ok({ model: name, version: serving.state.servingVersion(name) ?? null, ready: desired, desired, max: desired * 2, restarts_last_hour: 0, pending: 0 });
  }] as const;
}

function defaultInstances(model: string): StandInInstance[] {
  return [1, 2, 3].map((n) => ({ id: `i-0a1b2c3d4e5f6000${n}`, tags: { 'ml-model': model, environment: 'production', role: 'model-serving', Name: `gpu-serving-${n}` } }));
}

/** Every model and service goes to the stand-ins, with a bearer token read from the environment (as in production). */
function targetsYaml(servingUrl: string, trafficUrl: string): string {
  return [
    '# Generated by startSandbox() (src/sandbox/index.ts): every control backend is a loopback stand-in.',
    'models:',
    `  default: { backend: http, base_url: "${servingUrl}", auth_header_env: SERVING_API_TOKEN }`,
    'services:',
    `  default: { backend: http, base_url: "${trafficUrl}", auth_header_env: TRAFFIC_API_TOKEN }`,
    '',
  ].join('\n');
}

/**
 * The Slack end-to-end setting: real `runbook worker` and `runbook web` processes on the test
 * Redis under a fresh prefix, with their own runbooks directory, the Slack Web API stand-in, and a
 * request sender that signs slash commands and clicks as Slack does. Everything on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { engineKeys } from '../../src/engine/keys.ts';
import { RunStore } from '../../src/engine/run-store.ts';
import { startSlackStandIn, type SlackStandIn } from '../../src/sandbox/slack.ts';
import { createSlackRequestSender, type SlackRequestSender } from '../../src/sandbox/slack-requests.ts';
import { REDIS_URL } from './engine.ts';
import { freePort, startWebProcess, startWorkerProcess, stopAllProcesses, type WebProcess } from './processes.ts';

const BOT_TOKEN = 'xoxb-test-token';

export interface SlackE2eOptions {
  /** Names the temp directory and the processes, e.g. `incidents`. */
  readonly name: string;
  /** The runbooks both processes load: file name → Markdown. */
  readonly runbooks: Readonly<Record<string, string>>;
  /** The Slack app's signing secret (the web process verifies every request with it). */
  readonly signingSecret: string;
  /**
   * Whether the worker gets the Slack token and the runbooks too, so that it posts and keeps
   * current the run messages and performs the incidents' Slack effects.
   * @default true
   */
  readonly workerUsesSlack?: boolean;
}

export interface SlackE2e {
  /** The temp directory (runbooks in `runbooks/`, data in `var/`). */
  readonly dir: string;
  /** The Redis key prefix of both processes. */
  readonly prefix: string;
  readonly slack: SlackStandIn;
  readonly sender: SlackRequestSender;
  readonly web: WebProcess;
  /** A connection of the test's own to the processes' Redis. */
  readonly redis: Redis;
  /** The runs, as the processes stored them. */
  readonly store: RunStore;
  /** Stops the processes and the stand-in, deletes the prefix's keys and the temp directory. */
  close(): Promise<void>;
}

/** Starts the setting; what was started is stopped again when a part fails to start. */
export async function startSlackE2e(options: SlackE2eOptions): Promise<SlackE2e> {
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), `runbook-${options.name}-e2e-`));
  let slack: SlackStandIn | undefined;
  let sender: SlackRequestSender | undefined;
  let redis: Redis | undefined;
  const close = async () => {
    await stopAllProcesses();
    await sender?.close();
    await slack?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const runbooks = join(dir, 'runbooks');
    mkdirSync(runbooks);
    for (const [file, text] of Object.entries(options.runbooks)) writeFileSync(join(runbooks, file), text);
    slack = await startSlackStandIn();
    const base = { REDIS_URL, RUNBOOK_REDIS_PREFIX: prefix, DATA_DIR: join(dir, 'var'), RUNBOOK_TEST_EXECUTORS: '1' } as const;
    const slackEnv = { RUNBOOKS_DIR: runbooks, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.url };
    await startWorkerProcess(options.workerUsesSlack === false ? base : { ...base, ...slackEnv }, { name: `${options.name} worker` });
    const web = await startWebProcess({ ...base, ...slackEnv, SLACK_SIGNING_SECRET: options.signingSecret, PORT: String(await freePort()) }, { name: `${options.name} web` });
    sender = await createSlackRequestSender({ url: web.slackEventsUrl, signingSecret: options.signingSecret });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    return { dir, prefix, slack, sender, web, redis, store: new RunStore(redis, engineKeys(prefix)), close };
  } catch (error) {
    await close();
    throw error;
  }
}

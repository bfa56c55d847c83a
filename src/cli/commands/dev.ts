/**
 * `runbook dev [--demo] [--exit]`: the whole bot on one machine with no Slack workspace and no
 * cloud account. One process runs the sandbox stand-ins, Redis (embedded unless REDIS_URL), the
 * engine's workers and the web process with the sandbox console at `/console` (see
 * `src/dev/dev-stack.ts`). `--demo` also plays a scripted incident in the terminal; `--exit` (or
 * DEMO_EXIT=1) stops after it, exit 0 when every stage happened. Ctrl-C stops everything.
 */
import { playDemo } from '../../dev/demo.ts';
import { startDevStack } from '../../dev/dev-stack.ts';
import type { CliIo } from '../io.ts';
import { createLogger } from '../logger.ts';
import { untilSignalled } from '../shutdown.ts';

/** `runbook dev` flags, parsed. */
export interface DevCommandOptions {
  /** Play the scripted incident once everything listens. */
  readonly demo: boolean;
  /** With `demo`: stop after it instead of serving on. */
  readonly exit: boolean;
}

/** Runs the dev stack until a signal (or the demo, with `exit`); exit 0 on a clean stop. */
export async function devCommand(options: DevCommandOptions, io: CliIo): Promise<number> {
  const stack = await startDevStack({ env: io.env, cwd: io.cwd, io });
  io.stdout([
    'runbook dev: everything runs in this process, on loopback',
    `  console      ${stack.consoleUrl}   (a Slack channel look-alike: type /runbook rollback model-x)`,
    `  Slack        POST ${stack.baseUrl}/slack/events, signed with the sandbox's signing secret`,
    `  PagerDuty    POST ${stack.baseUrl}/pagerduty/webhook, signed v1= with the sandbox's webhook secret`,
    `  stand-ins    Slack, PagerDuty, SSM, serving/traffic control and ${Object.keys(stack.sandbox.hosts).length} ML platform hosts`,
    `  state        ${stack.app.redis.embedded ? 'embedded Redis' : 'REDIS_URL'} and the audit log in ${stack.dataDir}`,
    '',
  ].join('\n') + '\n');
  const logger = createLogger('info', io.stderr, { process: 'dev', pid: process.pid });
  // Listening from the start: Ctrl-C during the demo stops everything cleanly too.
  const interrupted = new AbortController();
  const stopped = untilSignalled(logger, (force) => (interrupted.abort(), stack.close(force)), 'stopping the bot, the workers and the stand-ins (send again to force)');
  let code = 0;
  if (options.demo) {
    const say = (line: string) => (interrupted.signal.aborted ? undefined : io.stdout(`${line}\n`));
    const result = await Promise.race([playDemo(stack, { say, signal: interrupted.signal }), stopped.then(() => undefined)]);
    if (result === undefined || interrupted.signal.aborted) return stopped;
    code = result.ok ? 0 : 1;
    if (options.exit) {
      await stack.close();
      return code;
    }
    io.stdout(`\nThe console keeps serving at ${stack.consoleUrl}\n`);
  }
  io.stdout('Ctrl-C stops everything.\n');
  return Math.max(await stopped, code);
}

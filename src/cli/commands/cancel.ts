/**
 * `runbook cancel <run> [--reason TEXT] [--as NAME]`: stops a run from any terminal. A runbook
 * with `on_cancel: rollback` first undoes its completed steps; the command does not wait for that.
 */
import { loadConfig } from '../config.ts';
import { requireRun, withClientApp } from '../connect.ts';
import type { CliIo } from '../io.ts';
import { cliPerson, localPerson } from '../local-user.ts';
import { explainIgnored } from '../run-view.ts';

/** `runbook cancel` arguments, parsed. */
export interface CancelOptions {
  readonly runId: string;
  readonly reason?: string;
  /** Acts as `cli:<as>`; default: the local user. */
  readonly as?: string;
}

/** Exit 0 when the cancel was applied, 1 when the engine ignored it (the run had finished, or is rolling back). */
export async function cancelCommand(options: CancelOptions, io: CliIo): Promise<number> {
  const config = loadConfig(io.env, io.cwd);
  const by = options.as !== undefined ? cliPerson(options.as) : localPerson(io.env);
  return withClientApp(config, io, 'cancel', async (app) => {
    const run = await requireRun(app, options.runId);
    const result = await app.runtime.engine.send(run.id, { type: 'run.cancel', by, ...(options.reason !== undefined ? { reason: options.reason } : {}) });
    if (!result.applied) {
      io.stderr(`runbook cancel: ${explainIgnored(result.reason, { run: result.run, person: by })}\n`);
      return 1;
    }
    io.stdout(result.run.status === 'active'
      ? `⏹ cancelling run ${run.id}: undoing its completed steps first; follow it with \`runbook status ${run.id}\`\n`
      : `⏹ cancelled run ${run.id}\n`);
    return 0;
  });
}

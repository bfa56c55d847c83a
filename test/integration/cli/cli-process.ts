/**
 * The real `runbook` command against the test Redis with a fresh key prefix, a temp DATA_DIR and
 * a temp RUNBOOKS_DIR holding the `cli-*.md` fixtures.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createCliWorkspace, type CliWorkspace } from '../../helpers/cli.ts';
import { REDIS_URL } from '../../helpers/engine.ts';
import { FIXTURES } from '../../helpers/runbooks.ts';

export type { CliProcess, CliResult } from '../../helpers/cli.ts';
export type CliSandbox = CliWorkspace;

/** `embedded`: no REDIS_URL, so the CLI starts a private redis-server in DATA_DIR. */
export function createCliSandbox(options: { embedded?: boolean } = {}): CliSandbox {
  return createCliWorkspace({
    dirLabel: 'cli',
    env: ({ prefix, dir }) => {
      const runbooks = join(dir, 'runbooks');
      mkdirSync(runbooks);
      for (const name of readdirSync(FIXTURES).filter((f) => f.startsWith('cli-'))) copyFileSync(join(FIXTURES, name), join(runbooks, name));
      return {
        ...process.env,
        REDIS_URL: options.embedded ? '' : REDIS_URL,
        RUNBOOK_REDIS_PREFIX: prefix,
        DATA_DIR: join(dir, 'var'),
        RUNBOOKS_DIR: runbooks,
        RUNBOOK_TEST_EXECUTORS: '1',
        LOG_LEVEL: '',
      };
    },
  });
}

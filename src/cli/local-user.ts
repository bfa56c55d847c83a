/**
 * Who a CLI user is to the engine. A local person is `cli:<name>` with no Slack groups: the CLI
 * is the offline path, and only Slack resolves group membership for real, so a gate that lists
 * approvers accepts a CLI person only through groups the user states (`--groups`).
 */
import { userInfo } from 'node:os';
import type { Person } from '../machines/run-types.ts';
import { CliError } from './cli-error.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const GROUP = /^@[a-z0-9][a-z0-9._-]{0,79}$/;

/** The login name of whoever runs this process (`USER` when the passwd entry is missing). */
export function localUserName(env: Readonly<Record<string, string | undefined>>): string {
  try {
    return userInfo().username;
  } catch {
    return env['USER'] ?? env['LOGNAME'] ?? 'local';
  }
}

/** `cli:<name>`, checked: `--as` values end up in audit records and messages. */
export function cliPerson(name: string, groups: readonly string[] = []): Person {
  if (!NAME.test(name)) throw new CliError('usage', `--as must be a user name (letters, digits, . _ -, at most 64); got ${JSON.stringify(name.slice(0, 80))}`);
  return { id: `cli:${name}`, name, ...(groups.length > 0 ? { groups } : {}) };
}

/** Parses `--groups @a,@b` (Slack user-group handles). */
export function parseGroups(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const groups = raw.split(',').map((g) => g.trim()).filter((g) => g.length > 0);
  const bad = groups.filter((g) => !GROUP.test(g));
  if (bad.length > 0) throw new CliError('usage', `--groups takes Slack group handles such as @ml-oncall-leads,@sre; got ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
  return groups;
}

/** The person running this process, as the requester of a local run (not validated: it is the OS's name). */
export function localPerson(env: Readonly<Record<string, string | undefined>>): Person {
  const name = localUserName(env);
  return { id: `cli:${name}`, name };
}

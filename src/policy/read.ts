/** Reads the policy file named by `POLICY_FILE`: absent means the built-in defaults, said out loud. */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { formatDiagnostic } from '../machines/diagnostics.ts';
import { CodedError } from '../shared/coded-error.ts';
import { builtInPolicy, parsePolicy, type ParsedPolicy } from './load.ts';
import type { Policy } from './types.ts';

/** The policy file does not validate; the message lists every `file:line:col` problem. */
export class PolicyInvalidError extends CodedError {
  constructor(readonly problems: readonly string[]) {
    super('policy_invalid', `the policy has ${problems.length} problem${problems.length === 1 ? '' : 's'}; fix them or run \`runbook policy check\`:\n${problems.join('\n')}`);
  }
}

export interface LoadedPolicy {
  readonly policy: Policy;
  /** False when no file exists and the built-in defaults apply. */
  readonly fromFile: boolean;
  /** Warnings to show; errors throw. */
  readonly notices: readonly string[];
}

/** Reads and checks `path`; `display` is how messages name it. @throws PolicyInvalidError */
export async function readPolicyFile(path: string, display = displayName(path)): Promise<ParsedPolicy | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CodedError('policy_unreadable', `cannot read the policy ${display}: ${(error as Error).message}`, { cause: error });
  }
  return parsePolicy(text, display);
}

/**
 * The policy a process runs with: the file, or the built-in defaults (which keep today's
 * behaviour: every run allowed, no freeze, no limits) when it does not exist.
 * @throws PolicyInvalidError when the file has errors: the process must refuse to start.
 */
export async function loadPolicy(path: string, display = displayName(path)): Promise<LoadedPolicy> {
  const parsed = await readPolicyFile(path, display);
  if (!parsed) {
    return { policy: builtInPolicy(), fromFile: false, notices: [`no policy file at ${display}: using the built-in defaults (every run allowed, no freeze windows, no limits)`] };
  }
  if (!parsed.policy) throw new PolicyInvalidError(parsed.diagnostics.map(formatDiagnostic));
  return { policy: parsed.policy, fromFile: true, notices: parsed.diagnostics.map(formatDiagnostic) };
}

function displayName(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

/**
 * Several child processes started so that they contend at the same moment: each runs a TypeScript
 * script (through tsx) that prints `ready` once set up, then waits for a line on stdin before
 * doing its work (see test/integration/audit/append-worker.ts).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LockstepResult {
  /** Each process's exit code, in the order of `argsPerProcess`. */
  readonly codes: (number | null)[];
  /** Everything the processes wrote to stderr, for failure messages. */
  readonly stderr: string;
}

/**
 * Starts `node --import tsx <script> ...args` once per entry of `argsPerProcess`, waits until
 * every one has printed `ready`, sends them all `go` at once and resolves when all have exited.
 * Rejects when one exits before it is ready.
 */
export async function runInLockstep(script: string, argsPerProcess: readonly (readonly string[])[]): Promise<LockstepResult> {
  const children = argsPerProcess.map((args) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: PROJECT_ROOT, stdio: 'pipe' });
    const stderr: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    return { child, stderr, exit: once(child, 'exit').then(([code]) => code as number | null) };
  });
  try {
    await Promise.all(
      children.map(async ({ child, stderr }) => {
        let output = '';
        for await (const chunk of child.stdout) {
          output += String(chunk);
          if (output.includes('ready')) return;
        }
        throw new Error(`${script} exited before it was ready: ${stderr.join('')}`);
      }),
    );
  } catch (error) {
    for (const { child } of children) child.kill('SIGKILL');
    throw error;
  }
  for (const { child } of children) child.stdin.end('go\n');
  const codes = await Promise.all(children.map(({ exit }) => exit));
  return { codes, stderr: children.map(({ stderr }) => stderr.join('')).join('\n') };
}

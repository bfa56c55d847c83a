/**
 * Questions at the terminal for `runbook run`. One readline interface per question, closed right
 * after, so stdin is in raw mode only while a question is open: between questions Ctrl-C is a
 * plain SIGINT, during one it arrives as readline's `SIGINT` event and is routed to the same
 * handler. A question can be withdrawn (the step was decided from another terminal).
 */
import { createInterface } from 'node:readline/promises';

/** The process's terminal, injected so the run view can be driven without one. */
export interface Terminal {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
}

/** This process's stdin and stdout. */
export function processTerminal(): Terminal {
  return { input: process.stdin, output: process.stdout, stdinIsTTY: process.stdin.isTTY === true, stdoutIsTTY: process.stdout.isTTY === true };
}

/** How a question is withdrawn, and where Ctrl-C during it goes. */
export interface AskOptions {
  /** Withdraws the question; `ask` then resolves undefined. */
  readonly signal: AbortSignal;
  /** Ctrl-C while the question is open. */
  readonly onInterrupt: () => void;
}

/** Asks one question; resolves the trimmed, lower-cased answer, or undefined when withdrawn or stdin ends. */
export async function ask(terminal: Terminal, question: string, options: AskOptions): Promise<string | undefined> {
  if (options.signal.aborted) return undefined;
  const rl = createInterface({ input: terminal.input, output: terminal.output, terminal: terminal.stdinIsTTY });
  rl.on('SIGINT', options.onInterrupt);
  const closed = new Promise<undefined>((resolve) => rl.once('close', () => resolve(undefined)));
  try {
    const answer = await Promise.race([rl.question(question, { signal: options.signal }), closed]);
    return answer?.trim().toLowerCase();
  } catch (error) {
    if (error instanceof Error && error.name === 'AbortError') return undefined;
    throw error;
  } finally {
    rl.close();
  }
}

/**
 * Asks until the answer is one of `choices` (first letters count: `y`, `yes`); an empty answer
 * picks `fallback` when there is one. Undefined when withdrawn.
 */
export async function askChoice<T extends string>(terminal: Terminal, question: string, choices: readonly T[], fallback: T | undefined, options: AskOptions): Promise<T | undefined> {
  for (;;) {
    const answer = await ask(terminal, question, options);
    if (answer === undefined) return undefined;
    if (answer === '' && fallback !== undefined) return fallback;
    const match = choices.find((c) => answer !== '' && (c === answer || c.startsWith(answer)));
    if (match) return match;
    terminal.output.write(`Please answer ${choices.join(', ')}.\n`);
  }
}

/** JSON-lines logging to stderr, one object per line, with a level filter. */
import type { EngineLogger } from '../engine/engine.ts';

const ORDER = { debug: 10, info: 20, warn: 30, error: 40 } as const;

export function createLogger(level: keyof typeof ORDER, write: (line: string) => void, base: Record<string, unknown> = {}): EngineLogger {
  const log = (lvl: keyof typeof ORDER) => (fields: Record<string, unknown>, msg: string) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(`${JSON.stringify({ level: lvl, time: new Date().toISOString(), ...base, ...fields, msg })}\n`);
  };
  return { info: log('info'), warn: log('warn'), error: log('error') };
}

/**
 * From the words after a runbook's command to raw param values, pure. Positional words fill the
 * params in the order of the runbook's Slack usage (`rollback <model> [version]`) or, without one,
 * the order its `params` are declared; `name=value` words name a param. Typing and validation are
 * `resolveParams`'s job (machines/params.ts): this only says which word goes to which param.
 */
import type { ParamSpec, Runbook } from '../machines/ir.ts';
import type { Token } from './grammar.ts';

/** Raw values by param name, or every problem with how the words map to params. */
export type ArgumentResult =
  | { readonly ok: true; readonly values: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly problems: readonly string[] };

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$/su;

/** The command that starts `runbook` from Slack: its usage's first word, else its id. */
export function commandOf(runbook: Runbook): string {
  return runbook.triggers.slack?.command || runbook.id;
}

/** Param names in positional order, each marked optional or not. */
export function positionalParams(runbook: Runbook): readonly { readonly name: string; readonly optional: boolean }[] {
  const slack = runbook.triggers.slack;
  if (slack) return slack.positional;
  return runbook.params.map((p) => ({ name: p.name, optional: !p.required || p.default !== undefined }));
}

/** `/runbook rollback <model> [version] [name=value…]`. */
export function usageLine(runbook: Runbook): string {
  const slack = runbook.triggers.slack;
  const words = slack ? [slack.usage] : [runbook.id, ...positionalParams(runbook).map((p) => (p.optional ? `[${p.name}]` : `<${p.name}>`))];
  return `/runbook ${words.join(' ')}${runbook.params.length > 0 ? ' [name=value…]' : ''}`;
}

/** Maps words to params; reports every word that has nowhere to go, and every param given twice. */
export function mapArguments(runbook: Runbook, args: readonly Token[]): ArgumentResult {
  const order = positionalParams(runbook);
  const values: Record<string, string> = {};
  const problems: string[] = [];
  const extra: string[] = [];
  let position = 0;
  for (const token of args) {
    const named = token.quoted ? null : ASSIGNMENT.exec(token.text);
    if (named) {
      const [, name = '', value = ''] = named;
      if (Object.hasOwn(values, name)) problems.push(`\`${name}\` is given more than once`);
      else values[name] = value;
      continue;
    }
    const slot = order[position];
    position += 1;
    if (!slot) {
      extra.push(token.text);
      continue;
    }
    if (Object.hasOwn(values, slot.name)) problems.push(`\`${slot.name}\` is given more than once`);
    else values[slot.name] = token.text;
  }
  if (extra.length > 0) {
    const max = order.length;
    problems.push(`too many values: \`${commandOf(runbook)}\` takes ${max === 0 ? 'no positional values' : `at most ${max} (${order.map((p) => p.name).join(', ')})`}; `
      + `left over: ${extra.map((e) => JSON.stringify(e.length > 40 ? `${e.slice(0, 39)}…` : e)).join(', ')} (quote a value that has spaces)`);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, values };
}

/** One line per param for help: `model (string, required): Model name… — pattern ^…$`. */
export function describeParam(spec: ParamSpec): string {
  const kind = spec.type === 'enum' && spec.values ? `one of ${spec.values.join(' | ')}` : spec.type;
  const need = spec.required && spec.default === undefined ? 'required' : spec.default !== undefined ? `default ${String(spec.default)}` : 'optional';
  const pattern = spec.pattern ? `, matching \`${spec.pattern}\`` : '';
  return `\`${spec.name}\` (${kind}, ${need}${pattern})${spec.description ? `: ${spec.description.replace(/\s+/g, ' ').trim()}` : ''}`;
}

/**
 * `runbook graph`: the compiled machine as Mermaid `stateDiagram-v2` or as JSON, for reviews and docs.
 */
import type { AnyStateMachine } from 'xstate';

interface NodeJson {
  readonly key: string;
  readonly type?: string;
  readonly initial?: unknown;
  readonly states?: Readonly<Record<string, NodeJson>>;
  readonly on?: Readonly<Record<string, readonly { readonly target?: readonly string[] }[]>>;
  readonly always?: readonly { readonly target?: readonly string[] }[];
}

/** The machine's JSON description (XState's own `toJSON`), safe to print. */
export function machineToJson(machine: AnyStateMachine): unknown {
  return JSON.parse(JSON.stringify(machine.definition));
}

/** Mermaid state diagram: steps as nested states, edges labelled with the events that move them. */
export function machineToMermaid(machine: AnyStateMachine): string {
  const root = machineToJson(machine) as NodeJson & { id?: string };
  const lines = ['stateDiagram-v2'];
  const render = (node: NodeJson, path: string, indent: string) => {
    const children = Object.entries(node.states ?? {});
    if (typeof node.initial === 'string' || (node.initial && typeof node.initial === 'object')) {
      const initial = typeof node.initial === 'string' ? node.initial : firstTarget(node.initial);
      if (initial) lines.push(`${indent}[*] --> ${mermaidId(`${path}.${lastSegment(initial)}`)}`);
    }
    for (const [key, child] of children) {
      const id = mermaidId(`${path}.${key}`);
      if (child.states && Object.keys(child.states).length > 0) {
        lines.push(`${indent}state "${key}" as ${id} {`);
        render(child, `${path}.${key}`, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state "${key}" as ${id}`);
        if (child.type === 'final') lines.push(`${indent}${id} --> [*]`);
      }
    }
    for (const [key, child] of children) {
      const from = mermaidId(`${path}.${key}`);
      for (const [event, transitions] of Object.entries(child.on ?? {})) {
        for (const target of new Set(transitions.flatMap((t) => t.target ?? []))) {
          lines.push(`${indent}${from} --> ${mermaidId(target.replace(/^#/, ''))} : ${event}`);
        }
      }
      for (const target of new Set((child.always ?? []).flatMap((t) => t.target ?? []))) {
        lines.push(`${indent}${from} --> ${mermaidId(target.replace(/^#/, ''))}`);
      }
    }
  };
  render(root, root.id ?? 'run', '  ');
  return `${lines.join('\n')}\n`;
}

function firstTarget(initial: unknown): string | undefined {
  const target = (initial as { target?: unknown }).target;
  return Array.isArray(target) && typeof target[0] === 'string' ? target[0] : undefined;
}

function lastSegment(id: string): string {
  return id.replace(/^#/, '').split('.').pop() ?? id;
}

function mermaidId(path: string): string {
  return path.replace(/[^A-Za-z0-9_]/g, '_');
}

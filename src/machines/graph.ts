/**
 * `runbook graph`: the compiled machine as Mermaid `stateDiagram-v2` or as JSON, for reviews and docs.
 */
import type { AnyStateMachine } from 'xstate';

interface GraphNode {
  readonly key: string;
  readonly type: string;
  readonly states: Readonly<Record<string, GraphNode>>;
  readonly initial?: { readonly target: readonly { readonly id: string }[] };
  readonly transitions: ReadonlyMap<string, readonly { readonly target?: readonly { readonly id: string }[] }[]>;
  readonly always?: readonly { readonly target?: readonly { readonly id: string }[] }[];
}

/** The machine's JSON description (XState's own `toJSON`), safe to print. */
export function machineToJson(machine: AnyStateMachine): unknown {
  return JSON.parse(JSON.stringify(machine.definition));
}

/** Mermaid state diagram: steps as nested states, edges labelled with the events that move them. */
export function machineToMermaid(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2'];
  const targetsOf = (transitions: readonly { readonly target?: readonly { readonly id: string }[] }[]) =>
    new Set(transitions.flatMap((t) => (t.target ?? []).map((n) => mermaidId(n.id))));
  const render = (node: GraphNode, indent: string) => {
    const children = Object.values(node.states);
    const initial = node.initial?.target[0];
    if (initial) lines.push(`${indent}[*] --> ${mermaidId(initial.id)}`);
    for (const child of children) {
      const id = mermaidId(idOf(child));
      if (Object.keys(child.states).length > 0) {
        lines.push(`${indent}state "${child.key}" as ${id} {`);
        render(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state "${child.key}" as ${id}`);
        if (child.type === 'final') lines.push(`${indent}${id} --> [*]`);
      }
    }
    for (const child of children) {
      const from = mermaidId(idOf(child));
      for (const [event, transitions] of child.transitions) {
        for (const target of targetsOf(transitions)) lines.push(`${indent}${from} --> ${target} : ${event}`);
      }
      for (const target of targetsOf(child.always ?? [])) lines.push(`${indent}${from} --> ${target}`);
    }
  };
  render(machine.root as unknown as GraphNode, '  ');
  return `${lines.join('\n')}\n`;
}

function idOf(node: GraphNode): string {
  return (node as unknown as { id: string }).id;
}

function mermaidId(path: string): string {
  return path.replace(/[^A-Za-z0-9_]/g, '_');
}

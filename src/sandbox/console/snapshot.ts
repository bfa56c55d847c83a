/**
 * What the console page shows, read from the stand-ins' in-process state: the Slack workspace
 * (users, groups, channels, messages as `chat.postMessage`/`chat.update` left them), the replies
 * only one person sees (`response_url` posts and `chat.postEphemeral`), the modals the bot opened,
 * and the calls the executors made to the other stand-ins. Plain JSON; the page escapes all of it.
 */
import type { SandboxState } from '../index.ts';
import type { CapturedResponse } from '../slack-requests.ts';

/** Who triggered what, as the console sent it: so a reply or a modal goes to the right person. */
export interface ConsoleOrigins {
  /** `response_url` → the channel and user of the command or click it came with. */
  readonly responseUrls: Map<string, { readonly channel: string; readonly user: string }>;
  /** `trigger_id` → the user whose command or click it came with. */
  readonly triggers: Map<string, string>;
  /** Views the person submitted or closed. */
  readonly closedViews: Set<string>;
}

/** One reply only `user` sees. */
export interface EphemeralJson {
  readonly id: string;
  readonly channel: string;
  readonly user: string;
  readonly text: string;
  readonly blocks?: unknown;
  readonly order: number;
}

/** One call an executor (or the bot's PagerDuty client) made to a stand-in. */
export interface CallJson {
  readonly id: string;
  readonly system: string;
  readonly summary: string;
  readonly detail: string;
  readonly order: number;
}

/** The whole page state. */
export interface ConsoleSnapshot {
  readonly users: readonly { id: string; name: string; realName: string; groups: readonly string[] }[];
  readonly channels: readonly { id: string; name: string; isPrivate: boolean }[];
  readonly messages: Readonly<Record<string, readonly Record<string, unknown>[]>>;
  readonly ephemeral: readonly EphemeralJson[];
  readonly views: readonly { id: string; user: string; view: Record<string, unknown> }[];
  readonly calls: readonly CallJson[];
  readonly incidents: readonly { id: string; title: string; status: string; service: string }[];
}

/** The From address of PagerDuty calls the console itself makes; left out of the calls panel. */
export const CONSOLE_PAGERDUTY_FROM = 'sandbox-console@example.com';
const DETAIL_LIMIT = 600;

/** Builds snapshots; remembers when it first saw each item, so items of different kinds interleave in arrival order. */
export function createSnapshotter(state: SandboxState, origins: ConsoleOrigins, responses: () => readonly CapturedResponse[]): () => ConsoleSnapshot {
  const seen = new Map<string, number>();
  const orderOf = (key: string) => {
    let order = seen.get(key);
    if (order === undefined) seen.set(key, (order = seen.size + 1));
    return order;
  };
  return () => {
    const slack = state.slack;
    const messages: Record<string, Record<string, unknown>[]> = {};
    for (const channel of slack.channels.values()) {
      messages[channel.id] = slack.messagesIn(channel.id).map((m) => ({ ...m, order: orderOf(`m:${channel.id}:${m.ts}`) }));
    }
    return {
      users: [...slack.users.values()].map((u) => ({
        id: u.id, name: u.name, realName: u.realName ?? u.name,
        groups: [...slack.userGroups.values()].filter((g) => g.users.includes(u.id)).map((g) => g.handle),
      })),
      channels: [...slack.channels.values()].filter((c) => c.isMember).map((c) => ({ id: c.id, name: c.name, isPrivate: c.isPrivate })),
      messages,
      ephemeral: ephemeralReplies(state, origins, responses(), orderOf),
      views: openViews(state, origins),
      calls: executorCalls(state, orderOf),
      incidents: state.pagerduty.incidents.map((i) => ({ id: i.id, title: i.title, status: i.status, service: i.service.summary })),
    };
  };
}

function ephemeralReplies(state: SandboxState, origins: ConsoleOrigins, responses: readonly CapturedResponse[], orderOf: (key: string) => number): EphemeralJson[] {
  const replies: EphemeralJson[] = [];
  responses.forEach((response, index) => {
    const origin = origins.responseUrls.get(response.url);
    if (!origin) return;
    const body = typeof response.body === 'object' && response.body !== null ? (response.body as Record<string, unknown>) : { text: String(response.body) };
    if (body['delete_original'] === true) return;
    const id = `r${index}`;
    replies.push({ id, channel: origin.channel, user: origin.user, text: typeof body['text'] === 'string' ? body['text'] : '', ...(body['blocks'] !== undefined ? { blocks: body['blocks'] } : {}), order: orderOf(`e:${id}`) });
  });
  state.slack.ephemeral.forEach((e, index) => {
    const id = `p${index}`;
    replies.push({ id, channel: e.channel, user: e.user, text: e.text, order: orderOf(`e:${id}`) });
  });
  return replies;
}

/** Views opened with a trigger the console issued, not yet submitted or closed. */
function openViews(state: SandboxState, origins: ConsoleOrigins): ConsoleSnapshot['views'] {
  // The stand-in keeps opened views in the order of its successful `views.open` calls.
  const opens = state.slack.calls.filter((c) => c.method === 'views.open' && c.outcome === 'ok');
  return state.slack.views.flatMap((view, index) => {
    const id = typeof view['id'] === 'string' ? view['id'] : '';
    const trigger = opens[index]?.args['trigger_id'];
    const user = typeof trigger === 'string' ? origins.triggers.get(trigger) : undefined;
    return id && user && !origins.closedViews.has(id) ? [{ id, user, view }] : [];
  });
}

function executorCalls(state: SandboxState, orderOf: (key: string) => number): CallJson[] {
  const calls: CallJson[] = [];
  const add = (key: string, system: string, summary: string, detail: unknown) =>
    calls.push({ id: key, system, summary, detail: truncate(detail === undefined ? '' : JSON.stringify(detail)), order: orderOf(`c:${key}`) });
  const http = (key: string, system: string, requests: readonly { method: string; path: string; body: unknown }[]) =>
    requests.forEach((r, i) => add(`${key}:${i}`, system, `${r.method} ${r.path}`, r.body));
  http('serving', 'serving-control', state.serving.requests);
  http('replicas', 'serving-control', state.servingReplicas.state.requests);
  http('traffic', 'traffic-control', state.traffic.requests);
  for (const [name, standIn] of Object.entries(state.platform.standIns)) http(name, name, standIn.state.requests);
  state.ssm.commands.forEach((c, i) =>
    add(`ssm:${i}`, 'aws-ssm', `SendCommand ${c.documentName} → ${c.instanceIds.length} instance(s)`, { instanceIds: c.instanceIds, parameters: c.parameters, comment: c.comment }));
  state.pagerduty.calls.forEach((c, i) => {
    if (c.from === CONSOLE_PAGERDUTY_FROM) return;
    add(`pagerduty:${i}`, 'pagerduty', `${c.method} ${c.path} → ${c.status}`, c.body);
  });
  return calls;
}

function truncate(text: string): string {
  return text.length > DETAIL_LIMIT ? `${text.slice(0, DETAIL_LIMIT)}…` : text;
}

/**
 * A loopback stand-in for the Slack Web API (REFERENCE.md §1.6, §1.8), so the real
 * `@slack/web-api` client (and Bolt's) talks to it over HTTP in tests and `runbook dev`.
 *
 * `POST /api/<method>` with a form-encoded (or JSON) body; `blocks`, `attachments`, `metadata` and
 * `view` fields are JSON-decoded. Every call needs `Authorization: Bearer <token>` (or a `token`
 * field) naming an accepted token, else `{ok:false,error:'invalid_auth'}` (`not_authed` without
 * one). Answers are HTTP 200 with `ok`, except scripted 429s. Channels: `#name`, `name` or id for
 * posts; ids only for the other methods, as in Slack. With `strictChannels` unset, a post to an
 * unknown channel creates it; set, it answers `channel_not_found`. A channel with `isMember: false`
 * answers `not_in_channel`. `pins.add`/`pins.list`, `conversations.info` and
 * `conversations.members` answer with Slack's shapes and errors (`already_pinned`,
 * `message_not_found`, `channel_not_found`). `state` records every call and scripts faults.
 */
import { listenOnLoopback } from './loopback-server.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface StandInChannel {
  readonly id: string; readonly name: string; readonly isPrivate?: boolean; readonly isMember?: boolean; readonly members?: readonly string[];
  /** Unix seconds; who made it (`conversations.create` sets both). */
  readonly created?: number; readonly creator?: string;
}
export interface StandInUser { readonly id: string; readonly name: string; readonly realName?: string; readonly email?: string; readonly tz?: string }
export interface StandInUserGroup { readonly id: string; readonly handle: string; readonly users: readonly string[] }

/** Options of {@link startSlackStandIn}. */
export interface SlackStandInOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Loopback only. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  /** Accepted tokens. @default ['xoxb-test-token'] */
  readonly tokens?: readonly string[];
  /** @default #general, #ml-incidents, #ml-oncall */
  readonly channels?: readonly StandInChannel[];
  /** Answer `channel_not_found` to a post to an unknown channel instead of creating it. @default false */
  readonly strictChannels?: boolean;
  /** @default four users (U0REQUEST1, U0APPROVE1, U0APPROVE2, U024BE7LH) */
  readonly users?: readonly StandInUser[];
  /** @default @ml-oncall-leads (S0MLLEADS1) = U0APPROVE1, U0APPROVE2 */
  readonly userGroups?: readonly StandInUserGroup[];
}

/** One call as received. `args` holds the decoded fields (JSON fields parsed). */
export interface SlackCall {
  readonly method: string;
  readonly args: Record<string, unknown>;
  /** The request's `Content-Type` (the Web API client sends `application/x-www-form-urlencoded`). */
  readonly contentType: string;
  /** `ok`, a Slack error string, `ratelimited` (HTTP 429) or `dropped` (applied, then the socket destroyed unanswered). */
  outcome: string;
  /** When it arrived (epoch ms). */
  readonly at: number;
}

/** A message in a channel. */
export interface StandInMessage {
  readonly type: 'message';
  ts: string;
  text: string;
  readonly user: string;
  readonly bot_id: string;
  blocks?: unknown;
  readonly thread_ts?: string;
  readonly metadata?: unknown;
  edited?: { readonly user: string; readonly ts: string };
  /** Channel ids the message is pinned in (Slack's `pinned_to`). */
  pinned_to?: string[];
}

/** The stand-in's recorded traffic, simulated workspace and fault controls. */
export interface SlackStandInState {
  readonly calls: SlackCall[];
  readonly channels: Map<string, Required<StandInChannel>>;
  readonly users: Map<string, StandInUser>;
  readonly userGroups: Map<string, StandInUserGroup>;
  readonly ephemeral: { channel: string; user: string; text: string; ts: string }[];
  readonly views: Record<string, unknown>[];
  /** The `args` of every call of `method`, in order. */
  callsTo(method: string): Record<string, unknown>[];
  /** Messages of a channel (id, `#name` or name), oldest first. */
  messagesIn(channel: string): StandInMessage[];
  /** The messages pinned in a channel (id, `#name` or name), in pinning order. */
  pinnedIn(channel: string): StandInMessage[];
  /** Answers the next `count` calls (of `method`, or any) with HTTP 429 and `Retry-After: retryAfterSeconds`. */
  rateLimitNext(count: number, retryAfterSeconds?: number, method?: string): void;
  /** Answers the next `count` calls of `method` with `{ ok: false, error }`. */
  failNext(method: string, error: string, count?: number): void;
  /** Applies the next call of `method`, then destroys the socket without answering (a lost reply). */
  dropNextReply(method: string): void;
}

/** A running stand-in; `url` is the Web API base (ends in `/api/`). `close()` is idempotent. */
export interface SlackStandIn {
  readonly url: string;
  readonly state: SlackStandInState;
  close(): Promise<void>;
}

type Args = Record<string, unknown>;
type Reply = { readonly ok: true; readonly body: Args } | { readonly ok: false; readonly error: string };
type Handler = (world: World, args: Args) => Reply;

const BOT = { userId: 'U0BOT00001', botId: 'B0BOT00001', teamId: 'T0TEAM0001', team: 'Runbook Sandbox' } as const;
const JSON_FIELDS = ['blocks', 'attachments', 'metadata', 'view'] as const;
const DEFAULT_CHANNELS: readonly StandInChannel[] = [
  { id: 'C0GENERAL1', name: 'general' }, { id: 'C0MLINC001', name: 'ml-incidents' }, { id: 'C0MLONC001', name: 'ml-oncall' },
];
const DEFAULT_USERS: readonly StandInUser[] = [
  { id: 'U0REQUEST1', name: 'alice', realName: 'Alice Requester' }, { id: 'U0APPROVE1', name: 'bob', realName: 'Bob Approver' },
  { id: 'U0APPROVE2', name: 'carol', realName: 'Carol Approver' }, { id: 'U024BE7LH', name: 'dave', realName: 'Dave Lead' },
];
const DEFAULT_GROUPS: readonly StandInUserGroup[] = [{ id: 'S0MLLEADS1', handle: 'ml-oncall-leads', users: ['U0APPROVE1', 'U0APPROVE2'] }];

const ok = (body: Args = {}): Reply => ({ ok: true, body });
const fail = (error: string): Reply => ({ ok: false, error });
const str = (value: unknown): string => (typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : '');

/** Starts the stand-in on loopback; resolves once it listens. */
export async function startSlackStandIn(options: SlackStandInOptions = {}): Promise<SlackStandIn> {
  const world = createWorld(options);
  const server = await listenOnLoopback((req, res) => void handle(world, req, res).catch(() => res.destroy()), options);
  return { url: `${server.base}/api/`, state: world.state, close: server.close };
}

interface World {
  readonly state: SlackStandInState;
  readonly tokens: ReadonlySet<string>;
  readonly strict: boolean;
  readonly messages: Map<string, StandInMessage[]>;
  readonly faults: { rateLimit: number; retryAfter: number; rateLimitMethod: string | undefined; failures: Map<string, { error: string; count: number }>; drop: Set<string> };
  seq: number;
}

function createWorld(options: SlackStandInOptions): World {
  const full = (c: StandInChannel): Required<StandInChannel> => ({ isPrivate: false, isMember: true, members: [], created: 1_600_000_000, creator: 'U0ADMIN001', ...c });
  const faults: World['faults'] = { rateLimit: 0, retryAfter: 1, rateLimitMethod: undefined, failures: new Map(), drop: new Set() };
  const messages = new Map<string, StandInMessage[]>();
  const state: SlackStandInState = {
    calls: [],
    channels: new Map((options.channels ?? DEFAULT_CHANNELS).map((c) => [c.id, full(c)])),
    users: new Map((options.users ?? DEFAULT_USERS).map((u) => [u.id, u])),
    userGroups: new Map((options.userGroups ?? DEFAULT_GROUPS).map((g) => [g.id, g])),
    ephemeral: [],
    views: [],
    callsTo: (method) => state.calls.filter((c) => c.method === method).map((c) => c.args),
    messagesIn: (channel) => {
      const found = findChannel(state, channel, true);
      return found ? [...(messages.get(found.id) ?? [])] : [];
    },
    pinnedIn: (channel) => {
      const found = findChannel(state, channel, true);
      return found ? (messages.get(found.id) ?? []).filter((m) => m.pinned_to?.includes(found.id)) : [];
    },
    rateLimitNext: (count, retryAfterSeconds = 1, method) => Object.assign(faults, { rateLimit: count, retryAfter: retryAfterSeconds, rateLimitMethod: method }),
    failNext: (method, error, count = 1) => faults.failures.set(method, { error, count }),
    dropNextReply: (method) => faults.drop.add(method),
  };
  return { state, tokens: new Set(options.tokens ?? ['xoxb-test-token']), strict: options.strictChannels ?? false, messages, faults, seq: 0 };
}

async function readArgs(req: IncomingMessage): Promise<Args> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const args: Args = Object.fromEntries(url.searchParams);
  if (str(req.headers['content-type']).startsWith('application/json')) {
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    if (typeof parsed === 'object' && parsed !== null) Object.assign(args, parsed);
    return args;
  }
  for (const [key, value] of new URLSearchParams(raw)) args[key] = value;
  for (const key of JSON_FIELDS) {
    const value = args[key];
    if (typeof value === 'string') args[key] = JSON.parse(value) as unknown;
  }
  return args;
}

async function handle(world: World, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = new URL(req.url ?? '/', 'http://stand-in').pathname.replace(/^\/api\//, '');
  let args: Args;
  try {
    args = await readArgs(req);
  } catch {
    return send(res, fail('invalid_json'));
  }
  const call: SlackCall = { method, args, contentType: str(req.headers['content-type']), outcome: 'ok', at: Date.now() };
  world.state.calls.push(call);
  const bearer = /^Bearer (.+)$/.exec(str(req.headers.authorization))?.[1] ?? str(args['token']);
  const { faults } = world;
  let reply: Reply;
  if (!bearer) reply = fail('not_authed');
  else if (!world.tokens.has(bearer)) reply = fail('invalid_auth');
  else if (faults.rateLimit > 0 && (faults.rateLimitMethod === undefined || faults.rateLimitMethod === method)) {
    faults.rateLimit -= 1;
    call.outcome = 'ratelimited';
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(faults.retryAfter) });
    return void res.end(JSON.stringify({ ok: false, error: 'ratelimited' }));
  } else reply = scriptedFailure(world, method) ?? dispatch(world, method, args);
  if (faults.drop.delete(method)) {
    call.outcome = 'dropped';
    req.socket.destroy();
    return;
  }
  call.outcome = reply.ok ? 'ok' : reply.error;
  send(res, reply);
}

function scriptedFailure(world: World, method: string): Reply | undefined {
  const failure = world.faults.failures.get(method);
  if (!failure) return undefined;
  failure.count -= 1;
  if (failure.count <= 0) world.faults.failures.delete(method);
  return fail(failure.error);
}

function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(reply.ok ? { ok: true, ...reply.body } : { ok: false, error: reply.error }));
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  'auth.test': () => ok({ url: 'https://sandbox.slack.test/', team: BOT.team, user: 'runbook-bot', team_id: BOT.teamId, user_id: BOT.userId, bot_id: BOT.botId }),
  'chat.postMessage': postMessage,
  'chat.update': updateMessage,
  'chat.postEphemeral': (world, args) => withChannel(world, args['channel'], { byName: true, create: false }, (channel) => {
    const user = str(args['user']);
    if (!channel.members.includes(user) && !world.state.users.has(user)) return fail('user_not_in_channel');
    const ts = nextTs(world);
    world.state.ephemeral.push({ channel: channel.id, user, text: str(args['text']), ts });
    return ok({ message_ts: ts });
  }),
  'conversations.history': history,
  'conversations.list': (world, args) => {
    const types = str(args['types'] || 'public_channel').split(',');
    const listed = [...world.state.channels.values()].filter((c) => types.includes(c.isPrivate ? 'private_channel' : 'public_channel'));
    return ok({ channels: listed.map(channelJson), response_metadata: { next_cursor: '' } });
  },
  'conversations.create': (world, args) => {
    const name = str(args['name']);
    if (!name) return fail('invalid_name_required');
    if (name.length > 80) return fail('invalid_name_maxlength');
    if (!/^[a-z0-9_-]+$/.test(name)) return fail('invalid_name_specials');
    if (findChannel(world.state, name, true)) return fail('name_taken');
    return ok({ channel: channelJson(addChannel(world, name, args['is_private'] === 'true' || args['is_private'] === true)) });
  },
  'conversations.info': (world, args) => {
    const channel = world.state.channels.get(str(args['channel']));
    return channel && !(channel.isPrivate && !channel.isMember) ? ok({ channel: channelJson(channel) }) : fail('channel_not_found');
  },
  'conversations.members': (world, args) => withChannel(world, args['channel'], { byName: false, create: false }, (channel) =>
    ok({ members: [...channel.members], response_metadata: { next_cursor: '' } })),
  'pins.add': (world, args) => withChannel(world, args['channel'], { byName: false, create: false }, (channel) => {
    const message = world.messages.get(channel.id)?.find((m) => m.ts === str(args['timestamp']));
    if (!message) return fail(str(args['timestamp']) ? 'message_not_found' : 'no_item_specified');
    if (message.pinned_to?.includes(channel.id)) return fail('already_pinned');
    message.pinned_to = [...(message.pinned_to ?? []), channel.id];
    return ok();
  }),
  'pins.list': (world, args) => withChannel(world, args['channel'], { byName: false, create: false }, (channel) => {
    const pinned = (world.messages.get(channel.id) ?? []).filter((m) => m.pinned_to?.includes(channel.id));
    return ok({ items: pinned.map((message) => ({ type: 'message', channel: channel.id, created_by: BOT.userId, created: Number(message.ts.split('.')[0]), message })) });
  }),
  'conversations.invite': (world, args) => withChannel(world, args['channel'], { byName: false, create: false }, (channel) => {
    const users = str(args['users']).split(',').map((u) => u.trim()).filter(Boolean);
    if (users.length === 0) return fail('no_user');
    if (users.some((u) => !world.state.users.has(u))) return fail('user_not_found');
    const fresh = users.filter((u) => !channel.members.includes(u));
    if (fresh.length === 0) return fail('already_in_channel');
    world.state.channels.set(channel.id, { ...channel, members: [...channel.members, ...fresh] });
    return ok({ channel: channelJson(world.state.channels.get(channel.id) ?? channel) });
  }),
  'views.open': (world, args) => {
    const trigger = str(args['trigger_id']);
    if (!trigger) return fail('invalid_trigger_id');
    if (trigger.startsWith('expired')) return fail('expired_trigger_id');
    const view = typeof args['view'] === 'object' && args['view'] !== null ? (args['view'] as Args) : undefined;
    if (!view) return fail('invalid_arguments');
    const opened = { id: `V${String(world.state.views.length + 1).padStart(9, '0')}`, team_id: BOT.teamId, ...view };
    world.state.views.push(opened);
    return ok({ view: opened });
  },
  'users.info': (world, args) => {
    const user = world.state.users.get(str(args['user']));
    if (!user) return fail('user_not_found');
    return ok({ user: { id: user.id, name: user.name, real_name: user.realName ?? user.name, tz: user.tz ?? 'UTC', is_bot: false, deleted: false,
      profile: { display_name: user.name, real_name: user.realName ?? user.name, ...(user.email ? { email: user.email } : {}) } } });
  },
  'usergroups.list': (world) => ok({ usergroups: [...world.state.userGroups.values()].map((g) => ({ id: g.id, handle: g.handle, name: g.handle, user_count: g.users.length })) }),
  'usergroups.users.list': (world, args) => {
    const group = world.state.userGroups.get(str(args['usergroup']));
    return group ? ok({ users: [...group.users] }) : fail('no_such_subteam');
  },
};

function dispatch(world: World, method: string, args: Args): Reply {
  const handler = HANDLERS[method];
  return handler ? handler(world, args) : fail('unknown_method');
}

function postMessage(world: World, args: Args): Reply {
  const text = str(args['text']);
  if (!text && args['blocks'] === undefined && args['attachments'] === undefined) return fail('no_text');
  if (text.length > 40_000) return fail('msg_too_long');
  return withChannel(world, args['channel'], { byName: true, create: !world.strict }, (channel) => {
    const threadTs = str(args['thread_ts']);
    const message: StandInMessage = {
      type: 'message', ts: nextTs(world), text, user: BOT.userId, bot_id: BOT.botId,
      ...(args['blocks'] === undefined ? {} : { blocks: args['blocks'] }),
      ...(threadTs ? { thread_ts: threadTs } : {}),
      ...(args['metadata'] === undefined ? {} : { metadata: args['metadata'] }),
    };
    world.messages.set(channel.id, [...(world.messages.get(channel.id) ?? []), message]);
    return ok({ channel: channel.id, ts: message.ts, message });
  });
}

function updateMessage(world: World, args: Args): Reply {
  return withChannel(world, args['channel'], { byName: false, create: false }, (channel) => {
    const message = world.messages.get(channel.id)?.find((m) => m.ts === str(args['ts']));
    if (!message) return fail('message_not_found');
    if (args['text'] !== undefined) message.text = str(args['text']);
    if (args['blocks'] !== undefined) message.blocks = args['blocks'];
    message.edited = { user: BOT.userId, ts: nextTs(world) };
    return ok({ channel: channel.id, ts: message.ts, text: message.text, message });
  });
}

function history(world: World, args: Args): Reply {
  const id = str(args['channel']);
  const channel = world.state.channels.get(id);
  if (!channel) return fail('channel_not_found');
  if (!channel.isMember) return fail('not_in_channel');
  const limit = Math.min(Math.max(Number(args['limit']) || 100, 1), 999);
  const offset = Number(/^offset:(\d+)$/.exec(str(args['cursor']))?.[1] ?? 0);
  const withMetadata = args['include_all_metadata'] === 'true' || args['include_all_metadata'] === true;
  const newestFirst = [...(world.messages.get(id) ?? [])].reverse();
  const page = newestFirst.slice(offset, offset + limit).map(({ metadata, ...m }) => (withMetadata && metadata !== undefined ? { ...m, metadata } : m));
  const more = offset + limit < newestFirst.length;
  return ok({ messages: page, has_more: more, response_metadata: { next_cursor: more ? `offset:${offset + limit}` : '' } });
}

/** Runs `then` with the channel named by `ref` (an id; `#name` or name too for posts), or answers its error. */
function withChannel(world: World, ref: unknown, post: { byName: boolean; create: boolean }, then: (channel: Required<StandInChannel>) => Reply): Reply {
  const wanted = str(ref);
  if (!wanted) return fail('channel_not_found');
  let channel = findChannel(world.state, wanted, post.byName);
  if (!channel && post.create) channel = /^[CGD][A-Z0-9]{2,}$/.test(wanted) ? addChannel(world, wanted.toLowerCase(), false, wanted) : addChannel(world, wanted.replace(/^#/, ''), false);
  if (!channel) return fail('channel_not_found');
  if (!channel.isMember) return fail(channel.isPrivate ? 'channel_not_found' : 'not_in_channel');
  return then(channel);
}

function findChannel(state: SlackStandInState, ref: string, byName: boolean): Required<StandInChannel> | undefined {
  const byId = state.channels.get(ref);
  if (byId || !byName) return byId;
  const name = ref.replace(/^#/, '').toLowerCase();
  return [...state.channels.values()].find((c) => c.name === name);
}

function addChannel(world: World, name: string, isPrivate: boolean, id?: string): Required<StandInChannel> {
  world.seq += 1;
  const channel = { id: id ?? `C0NEW${String(world.seq).padStart(5, '0')}`, name, isPrivate, isMember: true, members: [BOT.userId], created: Math.floor(Date.now() / 1000), creator: BOT.userId };
  world.state.channels.set(channel.id, channel);
  return channel;
}

function channelJson(c: Required<StandInChannel>): Args {
  return { id: c.id, name: c.name, created: c.created, creator: c.creator, is_channel: !c.isPrivate, is_private: c.isPrivate, is_member: c.isMember, is_archived: false, num_members: c.members.length };
}

/** `1700000000.000100`, `1700000000.000200`, …: unique and increasing, like Slack's. */
function nextTs(world: World): string {
  world.seq += 1;
  const micros = world.seq * 100;
  return `${1_700_000_000 + Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`;
}

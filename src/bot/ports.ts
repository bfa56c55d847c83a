/**
 * What the bot needs from the world, as narrow interfaces injected into its handlers: the engine
 * (start a run, send an event, read runs), Slack (reply, open a modal, read user groups), and a
 * delivery dedupe. Handlers depend on these, not on Bolt, so they are testable without HTTP.
 */
import type { types } from '@slack/bolt';
import type { EngineLogger, StartRunRequest } from '../engine/engine.ts';
import type { RunRecord } from '../engine/run-store.ts';
import type { Runbook } from '../machines/ir.ts';
import type { RunEvent } from '../machines/run-types.ts';

/** Structured logging, the engine's shape. */
export type BotLogger = EngineLogger;

/** The engine calls the bot makes (`Engine` satisfies it). */
export interface BotEngine {
  /** Validates and starts a run; throws `EngineError` (`runbook_param_invalid`, `run_concurrency_conflict`, …). */
  startRun(request: StartRunRequest): Promise<Pick<RunRecord, 'id' | 'runbookId' | 'params' | 'status'>>;
  /** Applies an event; `applied: false` with a `reason` when it changed nothing (recorded as ignored). */
  send(runId: string, event: RunEvent): Promise<{ readonly applied: boolean; readonly run: RunRecord; readonly reason?: string }>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** The run's pinned runbook. */
  runbookOf(run: RunRecord): Runbook;
  readonly store: { list(limit?: number): Promise<RunRecord[]> };
}

/** A message: `text` is the notification and fallback, `blocks` what Slack shows. */
export interface BotMessage {
  readonly text: string;
  readonly blocks?: types.KnownBlock[];
}

/** A Slack user group, as `usergroups.list` returns it. */
export interface UserGroupRef {
  readonly id: string;
  /** Without the `@`. */
  readonly handle: string;
}

/** The Slack calls the bot makes. Each rejects on failure. */
export interface BotSlack {
  /** An ephemeral reply through a `response_url` (slash commands, message buttons). */
  respond(responseUrl: string, message: BotMessage): Promise<void>;
  /** `chat.postEphemeral`: visible to `user` only. */
  postEphemeral(channel: string, user: string, message: BotMessage): Promise<void>;
  /** `views.open`; the trigger expires 3 s after Slack sent it. */
  openView(triggerId: string, view: types.ModalView): Promise<void>;
  /** `usergroups.list`. */
  userGroups(): Promise<readonly UserGroupRef[]>;
  /** `usergroups.users.list`: the user ids of one group. */
  userGroupMembers(groupId: string): Promise<readonly string[]>;
}

/** Remembers deliveries, so a retried one (same trigger id) does its work once. */
export interface DeliveryDedupe {
  /** True the first time `kind`/`id` is seen within the dedupe window, false on every repeat. */
  isFirstDelivery(kind: string, id: string): Promise<boolean>;
}

/** Who is clicking or typing, as Slack names them. */
export interface SlackActor {
  readonly userId: string;
  readonly userName: string;
}

/** Where to tell the person something only they see. */
export interface ReplyTarget {
  readonly userId: string;
  readonly channelId?: string;
  readonly responseUrl?: string;
}

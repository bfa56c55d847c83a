/**
 * The run message's buttons, once Bolt has acked the click: Approve, Reject (through a reason
 * modal), Done, Skip and Cancel. Each becomes one engine event from the clicker; the engine (the
 * machine) decides whether it counts. For approvals the clicker's user groups are resolved first,
 * since eligibility is by group. A click that changes nothing gets an ephemeral explanation; the
 * engine has recorded it as ignored. A retried delivery (same `trigger_id`) is applied once.
 */
import { z } from 'zod';
import type { Step } from '../machines/ir.ts';
import type { Person, RunEvent } from '../machines/run-types.ts';
import type { GroupResolver } from './approvers.ts';
import type { BotEngine, BotLogger, BotMessage, BotSlack, DeliveryDedupe, ReplyTarget } from './ports.ts';
import { createTell } from './tell.ts';
import { paragraphs } from './views/blocks.ts';
import { RUN_ACTIONS } from './run-message/actions.ts';
import { rejectModal, type RejectMetadata } from './views/modals.ts';
import { decisionReply, failureReply, gateOf, ignoredReply, runNotFoundReply } from './views/replies.ts';

/**
 * The buttons' `action_id`s, agreed with the run message: each button's `value` is the JSON
 * `{"runId": "…", "stepId": "…"}` (`stepId` optional for Cancel).
 */
export const ACTION_IDS = RUN_ACTIONS;

/** One of the buttons. */
export type ActionKind = keyof typeof ACTION_IDS;

const KINDS = Object.keys(ACTION_IDS) as ActionKind[];

/** Matches every `action_id` of {@link ACTION_IDS}. */
export const ACTION_ID_PATTERN = /^runbook\.(approve|reject|done|skip|cancel)$/;

// The run message sends `stepId: ""` on Cancel when no step is current.
const buttonValueSchema = z.object({ runId: z.string().min(1).max(200), stepId: z.string().max(200).optional() })
  .transform(({ runId, stepId }) => (stepId ? { runId, stepId } : { runId }));

/** The fields of a click the bot uses. */
export interface ButtonClickInput {
  readonly actionId: string;
  readonly value: string | undefined;
  readonly userId: string;
  readonly userName: string;
  readonly channelId?: string;
  readonly responseUrl?: string;
  readonly triggerId: string;
}

/** A submitted reject modal. */
export interface RejectSubmissionInput {
  readonly userId: string;
  readonly userName: string;
  readonly metadata: RejectMetadata;
  readonly reason?: string;
  readonly triggerId: string;
}

/** Options of {@link createActionHandler}. */
export interface ActionHandlerOptions {
  readonly engine: BotEngine;
  readonly slack: BotSlack;
  readonly dedupe: DeliveryDedupe;
  readonly groups: GroupResolver;
  readonly logger: BotLogger;
}

/** Handles acked clicks and reject submissions. Never throws. */
export interface ActionHandler {
  click(input: ButtonClickInput): Promise<void>;
  reject(input: RejectSubmissionInput): Promise<void>;
}

/** Creates the handler. */
export function createActionHandler(options: ActionHandlerOptions): ActionHandler {
  const { engine, slack, dedupe, groups, logger } = options;
  const tell = createTell(slack, logger);

  /** Applies one decision on `runId` for `actor`, and tells them what came of it. */
  const decide = async (kind: ActionKind, runId: string, stepId: string | undefined, actor: { userId: string; userName: string }, target: ReplyTarget, reason?: string) => {
    const reply = (message: BotMessage) => tell(target, message, 'ephemeral');
    const run = await engine.getRun(runId);
    if (!run) return reply(runNotFoundReply(runId));
    const runbook = engine.runbookOf(run);
    const step = stepId === undefined ? undefined : runbook.steps.find((s) => s.id === stepId);
    let person: Person = { id: actor.userId, name: actor.userName };
    if ((kind === 'approve' || kind === 'reject') && step) {
      try {
        person = { ...person, groups: await groups.groupsOf(actor.userId, gateOf(step).from) };
      } catch (error) {
        logger.warn({ runId, user: actor.userId, err: String(error) }, 'could not resolve user groups');
        return reply(paragraphs('⚠️ Could not check your Slack user groups just now, so nothing changed. Try again in a moment.'));
      }
    }
    const event = eventFor(kind, stepId ?? '', person, reason);
    if (!event) return reply(paragraphs('⚠️ This button names no step; nothing changed.'));
    const result = await engine.send(run.id, event);
    logger.info({ runId: run.id, kind, stepId, user: actor.userId, applied: result.applied, reason: result.reason }, 'button click handled');
    return reply(result.applied ? decisionReply(kind, result.run, step) : ignoredReply(result.reason, { run: result.run, runbook, ...(step ? { step } : {}) }));
  };

  const click = async (input: ButtonClickInput): Promise<void> => {
    const target: ReplyTarget = { userId: input.userId, ...(input.channelId ? { channelId: input.channelId } : {}), ...(input.responseUrl ? { responseUrl: input.responseUrl } : {}) };
    const kind = KINDS.find((k) => ACTION_IDS[k] === input.actionId);
    const value = parseValue(input.value);
    if (!kind || !value) {
      logger.warn({ actionId: input.actionId, user: input.userId }, 'a button with an unknown action or a malformed value was clicked');
      return tell(target, paragraphs('⚠️ This button is not one the bot understands; nothing changed.'), 'ephemeral');
    }
    try {
      if (kind === 'reject') {
        // The trigger expires 3 s after the click: open the modal before anything else.
        const metadata: RejectMetadata = { runId: value.runId, stepId: value.stepId ?? '', ...(input.channelId ? { channel: input.channelId } : {}), ...(input.responseUrl ? { responseUrl: input.responseUrl } : {}) };
        return await slack.openView(input.triggerId, rejectModal(metadata));
      }
      if (!(await dedupe.isFirstDelivery('action', input.triggerId))) {
        logger.info({ user: input.userId, trigger: input.triggerId }, 'ignored a repeated delivery of a click (a Slack retry)');
        return;
      }
      await decide(kind, value.runId, value.stepId, input, target);
    } catch (error) {
      logger.error({ kind, runId: value.runId, user: input.userId, err: String(error) }, 'button click failed');
      await tell(target, failureReply(kind === 'reject' ? 'open the reject form' : `${kind} that`, error), 'ephemeral');
    }
  };

  const reject = async (input: RejectSubmissionInput): Promise<void> => {
    const { metadata } = input;
    const target: ReplyTarget = { userId: input.userId, ...(metadata.channel ? { channelId: metadata.channel } : {}), ...(metadata.responseUrl ? { responseUrl: metadata.responseUrl } : {}) };
    try {
      if (!(await dedupe.isFirstDelivery('reject', input.triggerId))) return;
      await decide('reject', metadata.runId, metadata.stepId || undefined, input, target, input.reason);
    } catch (error) {
      logger.error({ runId: metadata.runId, user: input.userId, err: String(error) }, 'rejection failed');
      await tell(target, failureReply('reject that', error), 'ephemeral');
    }
  };

  return { click, reject };
}

function parseValue(value: string | undefined): z.output<typeof buttonValueSchema> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = buttonValueSchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function eventFor(kind: ActionKind, stepId: string, by: Person, reason: string | undefined): RunEvent | undefined {
  if (kind === 'cancel') return { type: 'run.cancel', by };
  if (!stepId) return undefined;
  switch (kind) {
    case 'approve':
      return { type: 'approval.granted', stepId, by };
    case 'reject':
      return { type: 'approval.rejected', stepId, by, ...(reason ? { reason } : {}) };
    case 'done':
      return { type: 'manual.done', stepId, by };
    case 'skip':
      return { type: 'manual.skipped', stepId, by };
  }
}

/** For tests and view builders: the button value of a step. */
export function buttonValue(runId: string, stepId?: Step['id']): string {
  return JSON.stringify(stepId === undefined ? { runId } : { runId, stepId });
}

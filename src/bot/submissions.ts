/**
 * Modal submissions: the runbook picker, the params form and the reject reason. Slack wants the
 * answer to a submission in the ack itself (`response_action: 'errors'` to show problems next to
 * the inputs, `'update'` to show the next step), so the checks that decide it are pure and run
 * before the ack; anything slow (starting the run, the engine call) is returned as `after`, to
 * run once the ack is sent.
 */
import type { types } from '@slack/bolt';
import { resolveParams } from '../machines/params.ts';
import type { ActionHandler } from './actions.ts';
import type { RunbookCatalog } from './catalog.ts';
import type { Incidents } from '../engine/incident-port.ts';
import { startRun } from './commands.ts';
import type { BotEngine, BotLogger, BotSlack, DeliveryDedupe, ReplyTarget } from './ports.ts';
import { createTell } from './tell.ts';
import { code } from './views/blocks.ts';
import {
  MODAL_CALLBACKS, noticeModal, paramBlockId, paramsModal, pickedRunbook, readRejectMetadata, readStartMetadata, submittedParams, submittedReason,
  type StartMetadata, type ViewStateValues,
} from './views/modals.ts';
import { failureReply } from './views/replies.ts';

/** The fields of a `view_submission` the bot uses. */
export interface ViewSubmissionInput {
  readonly callbackId: string;
  readonly privateMetadata: string | undefined;
  readonly values: ViewStateValues;
  readonly userId: string;
  readonly userName: string;
  readonly triggerId: string;
}

/** The ack's body: close (undefined), show errors next to inputs, or replace the view. */
export type ViewAck =
  | { readonly response_action: 'errors'; readonly errors: Record<string, string> }
  | { readonly response_action: 'update'; readonly view: types.ModalView }
  | undefined;

/** What to ack with, and the work to do after the ack. */
export interface SubmissionOutcome {
  readonly response: ViewAck;
  readonly after?: () => Promise<void>;
}

/** Options of {@link createSubmissionHandler}. */
export interface SubmissionHandlerOptions {
  readonly engine: BotEngine;
  readonly catalog: RunbookCatalog;
  readonly slack: BotSlack;
  readonly dedupe: DeliveryDedupe;
  readonly actions: Pick<ActionHandler, 'reject'>;
  readonly logger: BotLogger;
  /** Runs started from a form in an incident's channel belong to that incident. */
  readonly incidents?: Pick<Incidents, 'findByChannel'>;
}

/** Decides submissions; `submit` is pure and synchronous, `after` never throws. */
export interface SubmissionHandler {
  submit(input: ViewSubmissionInput): SubmissionOutcome;
}

/** Creates the handler. */
export function createSubmissionHandler(options: SubmissionHandlerOptions): SubmissionHandler {
  const { catalog, logger } = options;
  const tell = createTell(options.slack, logger);

  const pick = (input: ViewSubmissionInput, metadata: StartMetadata): SubmissionOutcome => {
    const picked = pickedRunbook(input.values);
    const entry = picked === undefined ? undefined : catalog.find(picked);
    if (!entry) return { response: { response_action: 'errors', errors: { runbook: picked === undefined ? 'Pick a runbook.' : `There is no runbook ${picked} any more; pick another.` } } };
    return { response: { response_action: 'update', view: paramsModal(entry.runbook, metadata) } };
  };

  const start = (input: ViewSubmissionInput, metadata: StartMetadata): SubmissionOutcome => {
    const entry = metadata.runbook === undefined ? undefined : catalog.find(metadata.runbook);
    if (!entry) return { response: { response_action: 'update', view: noticeModal('Runbook gone', `The runbook ${code(metadata.runbook ?? '?')} is no longer available; nothing was started.`) } };
    const params = submittedParams(entry.runbook, input.values);
    const resolved = resolveParams(entry.runbook, params);
    if (!resolved.ok) {
      const errors: Record<string, string> = {};
      for (const problem of resolved.problems) errors[paramBlockId(problem.param)] = problem.message.slice(0, 300);
      return { response: { response_action: 'errors', errors } };
    }
    const target: ReplyTarget = { userId: input.userId, channelId: metadata.channel, ...(metadata.responseUrl ? { responseUrl: metadata.responseUrl } : {}) };
    const after = async () => {
      try {
        if (!(await options.dedupe.isFirstDelivery('start-view', input.triggerId))) return;
        const who = { userId: input.userId, userName: input.userName, channelId: metadata.channel, ...(metadata.teamId ? { teamId: metadata.teamId } : {}), ...(metadata.responseUrl ? { responseUrl: metadata.responseUrl } : {}) };
        await tell(target, await startRun(options.engine, entry, params, who, logger, options.incidents));
      } catch (error) {
        logger.error({ runbook: entry.runbook.id, user: input.userId, err: String(error) }, 'starting a run from the form failed');
        await tell(target, failureReply('start the run', error));
      }
    };
    return { response: undefined, after };
  };

  return {
    submit: (input) => {
      if (input.callbackId === MODAL_CALLBACKS.reject) {
        const metadata = readRejectMetadata(input.privateMetadata);
        if (!metadata) {
          logger.warn({ user: input.userId }, 'a reject form came back without its run');
          return { response: undefined };
        }
        const reason = submittedReason(input.values);
        return { response: undefined, after: () => options.actions.reject({ userId: input.userId, userName: input.userName, metadata, triggerId: input.triggerId, ...(reason ? { reason } : {}) }) };
      }
      const metadata = readStartMetadata(input.privateMetadata);
      if (!metadata) {
        logger.warn({ user: input.userId, callbackId: input.callbackId }, 'a form came back without its channel');
        return { response: { response_action: 'update', view: noticeModal('Form expired', 'This form lost track of its channel; run `/runbook` again.') } };
      }
      return input.callbackId === MODAL_CALLBACKS.pick ? pick(input, metadata) : start(input, metadata);
    },
  };
}

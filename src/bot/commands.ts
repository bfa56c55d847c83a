/**
 * What `/runbook …` does once Bolt has acked it: parse, then list, help, plan, show status,
 * cancel, open a modal, start a run (linked to the incident whose channel it was typed in), or
 * an incident command (`incident-commands.ts`). Replies are ephemeral, through the command's
 * `response_url`. Everything that can be checked without I/O (the grammar, the runbook, its
 * params) is checked before anything is started; a retried delivery (same `trigger_id`) starts
 * nothing a second time.
 */
import { isEngineError } from '../engine/errors.ts';
import type { Incidents } from '../engine/incident-port.ts';
import type { RunOrigin } from '../engine/run-store.ts';
import { resolveParams } from '../machines/params.ts';
import { planRun } from '../machines/plan.ts';
import { mapArguments } from './arguments.ts';
import { incidentTemplateContext } from './incident-context.ts';
import type { CatalogEntry, RunbookCatalog } from './catalog.ts';
import { parseCommand, type ParsedCommand, type Token } from './grammar.ts';
import { runIncidentCommand } from './incident-commands.ts';
import type { BotEngine, BotLogger, BotMessage, BotSlack, DeliveryDedupe, ReplyTarget } from './ports.ts';
import { createTell, type Tell } from './tell.ts';
import { helpReply, listReply, planReply, runbookHelpReply } from './views/help.ts';
import { paramsModal, pickerModal, type StartMetadata } from './views/modals.ts';
import {
  badParamsReply, decisionReply, failureReply, ignoredReply, invalidCommandReply, recentRunsReply, refusedReply, runNotFoundReply, runStatusReply,
  startedReply, unknownRunbookReply,
} from './views/replies.ts';
import type { types } from '@slack/bolt';

/** The fields of a slash command the bot uses. */
export interface SlashCommandInput {
  readonly text: string;
  readonly userId: string;
  readonly userName: string;
  readonly channelId: string;
  readonly teamId?: string;
  readonly responseUrl: string;
  readonly triggerId: string;
}

/** Options of {@link createCommandHandler}. */
export interface CommandHandlerOptions {
  readonly engine: BotEngine;
  readonly catalog: RunbookCatalog;
  readonly slack: BotSlack;
  readonly dedupe: DeliveryDedupe;
  readonly logger: BotLogger;
  /** Runs scanned for the caller's own in `/runbook status`. @default 200 */
  readonly statusScanLimit?: number;
  /** The incident service: `/runbook incident …`, and runs typed in an incident channel belong to that incident. @default none (incident commands say so) */
  readonly incidents?: Incidents;
}

/** Handles one acked slash command. Never throws: failures are told to the person and logged. */
export interface CommandHandler {
  handle(command: SlashCommandInput): Promise<void>;
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

/** Normalises what a person typed as a run id (ULIDs are upper case); undefined when it cannot be one. */
export function normalizeRunId(text: string): string | undefined {
  if (ULID.test(text)) return text.toUpperCase();
  return /^[A-Za-z0-9._-]{1,200}$/.test(text) ? text : undefined;
}

/** Creates the handler. */
export function createCommandHandler(options: CommandHandlerOptions): CommandHandler {
  const { engine, catalog, slack, dedupe, logger } = options;
  const tell: Tell = createTell(slack, logger);

  const handle = async (input: SlashCommandInput): Promise<void> => {
    catalog.refreshIfStale();
    const target: ReplyTarget = { userId: input.userId, channelId: input.channelId, responseUrl: input.responseUrl };
    const reply = (message: BotMessage) => tell(target, message);
    const parsed = parseCommand(input.text);
    try {
      await dispatch(parsed, input, reply);
    } catch (error) {
      logger.error({ kind: parsed.kind, user: input.userId, err: String(error) }, 'slash command failed');
      await reply(failureReply(parsed.kind === 'start' ? 'start the run' : `do \`${parsed.kind === 'incident' ? `incident ${parsed.action}` : parsed.kind}\``, error));
    }
  };

  const dispatch = async (parsed: ParsedCommand, input: SlashCommandInput, reply: (m: BotMessage) => Promise<void>): Promise<void> => {
    switch (parsed.kind) {
      case 'invalid':
        return reply(invalidCommandReply(parsed.message, parsed.usage));
      case 'open-modal':
        return openModal(input, pickerModal(catalog.entries(), metadataOf(input)), reply);
      case 'list':
        return reply(listReply(catalog.entries(), parsed.tag));
      case 'help': {
        if (parsed.runbook === undefined) return reply(helpReply(catalog.entries()));
        const entry = catalog.find(parsed.runbook);
        return reply(entry ? runbookHelpReply(entry.runbook) : unknownRunbookReply(parsed.runbook, catalog.closest(parsed.runbook)));
      }
      case 'plan':
        return plan(parsed.runbook, parsed.args, reply);
      case 'status':
        return status(parsed.runId, input, reply);
      case 'cancel':
        return cancel(parsed.runId, parsed.reason, input, reply);
      case 'start':
        return start(parsed.runbook, parsed.args, input, reply);
      case 'incident': {
        const message = await runIncidentCommand(parsed, input, { incidents: options.incidents, engine, isFirst: () => isFirst(input) });
        return message ? reply(message) : undefined;
      }
    }
  };

  const plan = async (name: string, args: readonly Token[], reply: (m: BotMessage) => Promise<void>) => {
    const entry = catalog.find(name);
    if (!entry) return reply(unknownRunbookReply(name, catalog.closest(name)));
    const mapped = mapArguments(entry.runbook, args);
    if (!mapped.ok) return reply(badParamsReply(entry.runbook, mapped.problems, 'planned'));
    const params = resolveParams(entry.runbook, mapped.values);
    if (!params.ok) return reply(badParamsReply(entry.runbook, params.problems.map((p) => p.message), 'planned'));
    return reply(planReply(planRun(entry.runbook, params.values), entry.runbook));
  };

  const status = async (typed: string | undefined, input: SlashCommandInput, reply: (m: BotMessage) => Promise<void>) => {
    if (typed === undefined) {
      const runs = (await engine.store.list(options.statusScanLimit ?? 200)).filter((r) => r.requester.id === input.userId).slice(0, 8);
      return reply(recentRunsReply(runs, input.userId));
    }
    const runId = normalizeRunId(typed);
    const run = runId === undefined ? undefined : await engine.getRun(runId);
    return reply(run ? runStatusReply(run, engine.runbookOf(run)) : runNotFoundReply(typed));
  };

  const cancel = async (typed: string, reason: string | undefined, input: SlashCommandInput, reply: (m: BotMessage) => Promise<void>) => {
    const runId = normalizeRunId(typed);
    const run = runId === undefined ? undefined : await engine.getRun(runId);
    if (!run) return reply(runNotFoundReply(typed));
    if (!(await isFirst(input))) return;
    const result = await engine.send(run.id, { type: 'run.cancel', by: { id: input.userId, name: input.userName }, ...(reason ? { reason } : {}) });
    const runbook = engine.runbookOf(result.run);
    return reply(result.applied ? decisionReply('cancel', result.run, undefined) : ignoredReply(result.reason, { run: result.run, runbook }));
  };

  const start = async (name: string, args: readonly Token[], input: SlashCommandInput, reply: (m: BotMessage) => Promise<void>) => {
    const entry = catalog.find(name);
    if (!entry) return reply(unknownRunbookReply(name, catalog.closest(name)));
    const mapped = mapArguments(entry.runbook, args);
    if (!mapped.ok) return reply(badParamsReply(entry.runbook, mapped.problems));
    const params = resolveParams(entry.runbook, mapped.values);
    if (!params.ok) {
      // Only required params missing: ask for them in a form, keeping what was typed.
      if (params.problems.every((p) => p.code === 'param_missing')) return openModal(input, paramsModal(entry.runbook, metadataOf(input), mapped.values), reply);
      return reply(badParamsReply(entry.runbook, params.problems.map((p) => p.message)));
    }
    if (!(await isFirst(input))) return;
    return reply(await startRun(engine, entry, mapped.values, input, logger, options.incidents));
  };

  const isFirst = async (input: SlashCommandInput) => {
    if (await dedupe.isFirstDelivery('command', input.triggerId)) return true;
    logger.info({ user: input.userId, trigger: input.triggerId }, 'ignored a repeated delivery of a slash command (a Slack retry)');
    return false;
  };

  const openModal = async (input: SlashCommandInput, view: types.ModalView, reply: (m: BotMessage) => Promise<void>) => {
    try {
      await slack.openView(input.triggerId, view);
      // Remembered only after the modal opened, so a retry of this delivery stays silent.
      await dedupe.isFirstDelivery('modal', input.triggerId).catch(() => true);
    } catch (error) {
      if (!(await dedupe.isFirstDelivery('modal', input.triggerId).catch(() => true))) return;
      logger.warn({ user: input.userId, err: String(error) }, 'could not open a modal');
      await reply(failureReply('open the form (Slack gives 3 seconds to open one); type `/runbook help` for the usage, or try again', error));
    }
  };

  return { handle };
}

function metadataOf(input: SlashCommandInput): StartMetadata {
  return { channel: input.channelId, responseUrl: input.responseUrl, ...(input.teamId ? { teamId: input.teamId } : {}) };
}

/** Who and where a run is started from Slack; shared by the command and the modal. */
export interface SlackStart {
  readonly userId: string;
  readonly userName: string;
  readonly channelId: string;
  readonly teamId?: string;
  readonly responseUrl?: string;
}

/**
 * Starts `entry` with raw `params` for a Slack user; the reply says what happened. Typed in an
 * incident's channel (`incidents` given), the run belongs to that incident: it carries
 * `incident` (templates, audit, the incident's timeline and runs).
 */
export async function startRun(engine: BotEngine, entry: CatalogEntry, params: Readonly<Record<string, string>>, who: SlackStart, logger: BotLogger, incidents?: Pick<Incidents, 'findByChannel'>): Promise<BotMessage> {
  const origin: RunOrigin = {
    kind: 'slack',
    channel: who.channelId,
    ...(who.teamId ? { teamId: who.teamId } : {}),
    ...(who.responseUrl ? { responseUrl: who.responseUrl } : {}),
  };
  const incident = await incidents?.findByChannel(who.channelId);
  const link = incident ? { incident: incidentTemplateContext(incident) } : {};
  try {
    const run = await engine.startRun({ file: entry.file, source: entry.source, params, requester: { id: who.userId, name: who.userName }, origin, ...link });
    logger.info({ runId: run.id, runbook: entry.runbook.id, requester: who.userId, channel: who.channelId, ...(incident ? { incidentId: incident.id } : {}) }, 'run started from Slack');
    return startedReply(run, entry.runbook);
  } catch (error) {
    if (isEngineError(error, 'runbook_param_invalid')) return badParamsReply(entry.runbook, error.message.split('; '));
    if (isEngineError(error) && !error.retryable) return refusedReply(entry.runbook, error);
    throw error;
  }
}

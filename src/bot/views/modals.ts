/**
 * The modals, pure: pick a runbook (`/runbook` alone), fill its params (also when required params
 * were missing from the command), and an optional reason for a rejection. What a modal must
 * remember between opening and submitting (the channel, the `response_url`, the run) travels in
 * its `private_metadata`, which Slack returns untouched with the submission.
 */
import type { types } from '@slack/bolt';
import { z } from 'zod';
import type { ParamSpec, Runbook } from '../../machines/ir.ts';
import { commandOf, usageLine } from '../arguments.ts';
import type { CatalogEntry } from '../catalog.ts';
import { clip, escapeText, section } from './blocks.ts';

/** `callback_id`s of the modals. */
export const MODAL_CALLBACKS = {
  pick: 'runbook.pick',
  start: 'runbook.start',
  reject: 'runbook.reject_reason',
} as const;

const PICK_BLOCK = 'runbook';
const REASON_BLOCK = 'reason';
const VALUE_ACTION = 'value';
/** The block of a param's input: `param.<name>`. */
export const paramBlockId = (name: string): string => `param.${name}`;

const startMetadataSchema = z.object({
  channel: z.string().max(40),
  responseUrl: z.string().max(1_000).optional(),
  teamId: z.string().max(40).optional(),
  runbook: z.string().max(200).optional(),
});
/** What the start modals carry: where to reply, and (once picked) the runbook. */
export type StartMetadata = z.infer<typeof startMetadataSchema>;

const rejectMetadataSchema = z.object({
  runId: z.string().max(200),
  stepId: z.string().max(200),
  channel: z.string().max(40).optional(),
  responseUrl: z.string().max(1_000).optional(),
});
/** What the reject modal carries: the approval it decides and where to reply. */
export type RejectMetadata = z.infer<typeof rejectMetadataSchema>;

/** Parses start-modal metadata; undefined when it is not ours. */
export function readStartMetadata(text: string | undefined): StartMetadata | undefined {
  return parseJson(text, startMetadataSchema);
}

/** Parses reject-modal metadata; undefined when it is not ours. */
export function readRejectMetadata(text: string | undefined): RejectMetadata | undefined {
  return parseJson(text, rejectMetadataSchema);
}

function parseJson<T>(text: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (!text) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const plain = (text: string, max = 75): types.PlainTextElement => ({ type: 'plain_text', text: clip(text, max) });
const option = (text: string, value: string): types.PlainTextOption => ({ text: plain(text), value: clip(value, 150) });

/** Step one of `/runbook` alone: which runbook. */
export function pickerModal(entries: readonly CatalogEntry[], metadata: StartMetadata): types.ModalView {
  const options = entries.slice(0, 100).map((e) => option(`${commandOf(e.runbook)} — ${e.runbook.title}`, e.runbook.id));
  return {
    type: 'modal',
    callback_id: MODAL_CALLBACKS.pick,
    private_metadata: JSON.stringify(metadata),
    title: plain('Start a runbook', 24),
    close: plain('Cancel', 24),
    ...(options.length > 0 ? { submit: plain('Next', 24) } : {}),
    blocks: options.length > 0
      ? [{ type: 'input', block_id: PICK_BLOCK, label: plain('Runbook', 2000), element: { type: 'static_select', action_id: VALUE_ACTION, placeholder: plain('Pick a runbook'), options } }]
      : [section('No runbooks are loaded.')],
  };
}

/** The runbook picked in {@link pickerModal}'s submission, if any. */
export function pickedRunbook(values: ViewStateValues): string | undefined {
  return selected(values[PICK_BLOCK]?.[VALUE_ACTION]);
}

/** One input per param, prefilled from `given` or the param's default. */
export function paramsModal(runbook: Runbook, metadata: StartMetadata, given: Readonly<Record<string, string>> = {}): types.ModalView {
  const intro = section(`*${escapeText(runbook.title)}*${runbook.summary ? `\n${escapeText(clip(runbook.summary, 500))}` : ''}\n\`${escapeText(usageLine(runbook))}\``);
  return {
    type: 'modal',
    callback_id: MODAL_CALLBACKS.start,
    private_metadata: JSON.stringify({ ...metadata, runbook: runbook.id }),
    title: plain('Start a runbook', 24),
    close: plain('Cancel', 24),
    submit: plain('Start', 24),
    blocks: [intro, ...(runbook.params.length > 0 ? runbook.params.map((p) => paramInput(p, given[p.name])) : [section('This runbook takes no params.')])],
  };
}

function paramInput(spec: ParamSpec, given: string | undefined): types.InputBlock {
  const initial = given ?? (spec.default === undefined ? undefined : String(spec.default));
  const choices = spec.type === 'enum' ? (spec.values ?? []) : spec.type === 'boolean' ? ['true', 'false'] : undefined;
  const hint = [spec.description?.replace(/\s+/g, ' ').trim(), spec.pattern ? `matching ${spec.pattern}` : undefined, spec.type === 'duration' ? 'e.g. 30s, 10m, 2h' : undefined]
    .filter((h): h is string => Boolean(h)).join(' — ');
  const element: types.InputBlockElement = choices
    ? { type: 'static_select', action_id: VALUE_ACTION, options: choices.slice(0, 100).map((c) => option(c, c)), ...(initial !== undefined && choices.includes(initial) ? { initial_option: option(initial, initial) } : {}) }
    : { type: 'plain_text_input', action_id: VALUE_ACTION, ...(initial !== undefined && initial !== '' ? { initial_value: clip(initial, 3000) } : {}), max_length: 1000 };
  return {
    type: 'input',
    block_id: paramBlockId(spec.name),
    label: plain(`${spec.name} (${spec.type})`, 2000),
    optional: !(spec.required && spec.default === undefined),
    ...(hint ? { hint: plain(hint, 2000) } : {}),
    element,
  };
}

/** A submitted view's `state.values`: block id → action id → input state. */
export type ViewStateValues = Readonly<Record<string, Readonly<Record<string, ViewInput | undefined>> | undefined>>;

/** The fields of one input the bot reads. */
export interface ViewInput {
  readonly type?: string;
  readonly value?: string | null;
  readonly selected_option?: { readonly value?: string } | null;
}

function selected(input: ViewInput | undefined): string | undefined {
  const value = input?.selected_option?.value ?? input?.value ?? undefined;
  return value === null || value === undefined || value === '' ? undefined : value;
}

/** The raw param values of a submitted {@link paramsModal}; empty inputs are left out. */
export function submittedParams(runbook: Runbook, values: ViewStateValues): Record<string, string> {
  const params: Record<string, string> = {};
  for (const spec of runbook.params) {
    const value = selected(values[paramBlockId(spec.name)]?.[VALUE_ACTION]);
    if (value !== undefined) params[spec.name] = value;
  }
  return params;
}

/** An optional reason for rejecting an approval. */
export function rejectModal(metadata: RejectMetadata): types.ModalView {
  return {
    type: 'modal',
    callback_id: MODAL_CALLBACKS.reject,
    private_metadata: JSON.stringify(metadata),
    title: plain('Reject', 24),
    close: plain('Cancel', 24),
    submit: plain('Reject', 24),
    blocks: [
      section(`Reject step \`${escapeText(metadata.stepId)}\` of run \`${escapeText(metadata.runId)}\`? The run will roll back and end rejected.`),
      { type: 'input', block_id: REASON_BLOCK, optional: true, label: plain('Reason (optional)', 2000), element: { type: 'plain_text_input', action_id: VALUE_ACTION, multiline: true, max_length: 1000 } },
    ],
  };
}

/** The reason typed in {@link rejectModal}, trimmed; undefined when empty. */
export function submittedReason(values: ViewStateValues): string | undefined {
  return selected(values[REASON_BLOCK]?.[VALUE_ACTION])?.trim() || undefined;
}

/** A modal that only says something (replaces the current one with `response_action: 'update'`). */
export function noticeModal(title: string, mrkdwn: string): types.ModalView {
  return { type: 'modal', title: plain(title, 24), close: plain('Close', 24), blocks: [section(mrkdwn)] };
}

/**
 * The run message's buttons: their `action_id`s and `value` format, shared with the bot's
 * button handlers. `value` is JSON `{ "runId": "…", "stepId": "…" }`; on Cancel, `stepId` is
 * the step that was current when the message was rendered (informational: cancel applies to the
 * run).
 */
import { BLOCK_LIMITS, plainText, type ActionsBlock, type ButtonElement, type ConfirmDialog } from './blocks.ts';

/** The `action_id` of each run button (the bot's handlers listen for exactly these). */
export const RUN_ACTIONS = {
  approve: 'runbook.approve',
  reject: 'runbook.reject',
  done: 'runbook.done',
  skip: 'runbook.skip',
  cancel: 'runbook.cancel',
} as const;

/** One of {@link RUN_ACTIONS}. */
export type RunActionId = (typeof RUN_ACTIONS)[keyof typeof RUN_ACTIONS];

/** The `value` of every run button. */
export interface RunActionValue {
  readonly runId: string;
  readonly stepId: string;
}

/** The `block_id` of the buttons' actions block. */
export const RUN_ACTIONS_BLOCK_ID = 'runbook.actions';

/** Encodes a button value. */
export function encodeActionValue(value: RunActionValue): string {
  return JSON.stringify({ runId: value.runId, stepId: value.stepId });
}

/** Decodes a button value; undefined for anything that is not `{ runId: string, stepId: string }`. */
export function decodeActionValue(text: string): RunActionValue | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { runId, stepId } = parsed as Record<string, unknown>;
  return typeof runId === 'string' && runId.length > 0 && typeof stepId === 'string' ? { runId, stepId } : undefined;
}

/** What can be done now, which decides the buttons. */
export interface AvailableActions {
  readonly runId: string;
  /** The current step, if any. */
  readonly stepId?: string;
  readonly stepKind?: 'approval' | 'manual' | 'other';
  readonly canCancel: boolean;
  /** Whether cancelling undoes completed steps (the runbook's `on_cancel: rollback`). */
  readonly cancelRollsBack: boolean;
}

function confirm(title: string, text: string, yes: string, style?: 'danger'): ConfirmDialog {
  return {
    title: plainText(title, BLOCK_LIMITS.confirmTitle),
    text: plainText(text, BLOCK_LIMITS.confirmText),
    confirm: plainText(yes, BLOCK_LIMITS.confirmButton),
    deny: plainText('Back', BLOCK_LIMITS.confirmButton),
    ...(style ? { style } : {}),
  };
}

function button(actionId: RunActionId, label: string, value: string, extra: Pick<ButtonElement, 'style' | 'confirm'> = {}): ButtonElement {
  return { type: 'button', action_id: actionId, text: plainText(label, BLOCK_LIMITS.buttonText), value, ...extra };
}

/** The actions block for what can be done now; undefined when nothing can. */
export function actionButtons(available: AvailableActions): ActionsBlock | undefined {
  const value = encodeActionValue({ runId: available.runId, stepId: available.stepId ?? '' });
  const elements: ButtonElement[] = [];
  if (available.stepId && available.stepKind === 'approval') {
    elements.push(button(RUN_ACTIONS.approve, 'Approve', value, { style: 'primary' }));
    elements.push(button(RUN_ACTIONS.reject, 'Reject', value, { style: 'danger', confirm: confirm('Reject this step?', 'Rejecting stops the run.', 'Reject', 'danger') }));
  }
  if (available.stepId && available.stepKind === 'manual') {
    elements.push(button(RUN_ACTIONS.done, 'Done', value, { style: 'primary' }));
    elements.push(button(RUN_ACTIONS.skip, 'Skip', value, { confirm: confirm('Skip this step?', 'The run goes on without it.', 'Skip') }));
  }
  if (available.canCancel) {
    const why = available.cancelRollsBack ? 'Completed steps that have an undo will be rolled back.' : 'Completed steps stay as they are.';
    elements.push(button(RUN_ACTIONS.cancel, 'Cancel run', value, { style: 'danger', confirm: confirm('Cancel this run?', why, 'Cancel run', 'danger') }));
  }
  return elements.length > 0 ? { type: 'actions', block_id: RUN_ACTIONS_BLOCK_ID, elements } : undefined;
}

import { describe, expect, it } from 'vitest';
import { BLOCK_LIMITS, decodeActionValue, outputPosts, renderRunMessage, RUN_ACTIONS, type SlackMessageContent } from '../../../src/bot/run-message/index.ts';
import { createExecutorCatalog } from '../../../src/executors/specs.ts';
import { TEST_EXECUTOR_SPECS } from '../../../src/executors/testing.ts';
import type { RunRecord } from '../../../src/engine/run-store.ts';
import type { Runbook } from '../../../src/machines/ir.ts';
import { loadRunbook } from '../../../src/machines/load.ts';
import type { Person } from '../../../src/machines/run-types.ts';
import { RunDriver } from '../../helpers/runbooks.ts';

const catalog = createExecutorCatalog(TEST_EXECUTOR_SPECS);
const T0 = 1_700_000_000_000;
const alice: Person = { id: 'U0REQUEST1', name: 'alice' };
const bob: Person = { id: 'U0APPROVE1', name: 'bob', groups: ['@ml-oncall-leads'] };
const carol: Person = { id: 'U0APPROVE2', name: 'carol', groups: ['@ml-oncall-leads'] };
const SECRET = 'hunter2-very-secret';

function runbookOf(text: string): Runbook {
  const loaded = loadRunbook('run-message.md', text, catalog);
  if (!loaded.runbook) throw new Error(JSON.stringify(loaded.diagnostics));
  return loaded.runbook;
}

const ROLLBACK = runbookOf(`---
title: Roll back a model deployment
params:
  model: { type: string }
  token: { type: string, secret: true }
---
# Roll back

## Check what is serving {#check}
Look at **the dashboard**, then continue.
\`\`\`record
label: "check {{ params.model }}"
timeout: 10s
\`\`\`

## Approve the rollback {#approve}
\`\`\`approve
message: "Roll {{ params.model }} back (token {{ params.token }})?"
quorum: 2
from: ["@ml-oncall-leads"]
\`\`\`

## Roll back {#apply}
\`\`\`record
label: apply
timeout: 10s
undo: { label: "undo apply" }
\`\`\`

## Verify {#verify}
\`\`\`fail
times: 1
timeout: 10s
on_failure: rollback
\`\`\`

## Confirm dashboards are green {#confirm}
Check the serving dashboard for five minutes, then mark this step done.
`);

/** Drives ROLLBACK with timed events; `at(s)` is T0 + s seconds. */
class Driver extends RunDriver {
  constructor(runbook: Runbook = ROLLBACK, params: Record<string, unknown> = { model: 'model-x', token: SECRET }) {
    super(runbook, { runId: 'RUN1', params, requester: alice, startedAt: T0 });
  }
  ok(seconds: number, output: unknown = { version: 'v42' }) {
    const run = this.lastRun();
    this.send({ type: 'step.succeeded', stepId: run.stepId, attempt: run.attempt, phase: run.phase, output, at: T0 + seconds * 1_000 });
    return this;
  }
  bad(seconds: number, message = 'boom') {
    const run = this.lastRun();
    this.send({ type: 'step.failed', stepId: run.stepId, attempt: run.attempt, phase: run.phase, error: { code: 'verify_failed', message, retryable: false }, at: T0 + seconds * 1_000 });
    return this;
  }
  approve(seconds: number, by: Person) {
    this.send({ type: 'approval.granted', stepId: 'approve', by, at: T0 + seconds * 1_000 });
    return this;
  }
  sendDone() {
    this.send({ type: 'manual.done', stepId: 'confirm', by: carol, at: T0 + 90_000 });
    return this;
  }
  rejectBy(by: Person, seconds: number) {
    this.send({ type: 'approval.rejected', stepId: 'approve', by, reason: 'not today', at: T0 + seconds * 1_000 });
    return this;
  }
  cancelBy(by: Person, seconds: number) {
    this.send({ type: 'run.cancel', by, reason: 'wrong model', at: T0 + seconds * 1_000 });
    return this;
  }
  asRun(status: RunRecord['status'] = this.status ?? 'active', updatedSeconds = 90): RunRecord {
    return {
      id: 'RUN1', runbookId: ROLLBACK.id, runbookFile: 'run-message.md', source: '', sourceHash: 'hash', params: this.snapshot.context.params,
      requester: alice, status, snapshot: this.snapshot, version: 7, createdAt: T0, updatedAt: T0 + updatedSeconds * 1_000, origin: { kind: 'slack', channel: 'C123' },
    };
  }
}

const NOW = T0 + 100_000;
const render = (d: Driver, runbook: Runbook = ROLLBACK) => renderRunMessage(d.asRun(), runbook, NOW);

/** The block structure: types, block ids and buttons. */
function shape(message: SlackMessageContent): string[] {
  return message.blocks.map((b) => {
    if (b.type === 'actions') return `actions[${b.elements.map((e) => e.action_id).join(' ')}]`;
    return 'block_id' in b && b.block_id ? `${b.type}:${b.block_id}` : b.type;
  });
}

const textOf = (message: SlackMessageContent, blockId: string) => {
  const block = message.blocks.find((b) => 'block_id' in b && b.block_id === blockId);
  return block?.type === 'section' ? block.text.text : block?.type === 'header' ? block.text.text : undefined;
};

function expectWithinLimits(message: SlackMessageContent) {
  expect(message.blocks.length).toBeLessThanOrEqual(BLOCK_LIMITS.blocksPerMessage);
  for (const block of message.blocks) {
    if (block.type === 'section') expect(block.text.text.length).toBeLessThanOrEqual(BLOCK_LIMITS.sectionText);
    if (block.type === 'header') expect(block.text.text.length).toBeLessThanOrEqual(BLOCK_LIMITS.headerText);
    if (block.type === 'actions') {
      for (const button of block.elements) {
        expect(button.text.text.length).toBeLessThanOrEqual(BLOCK_LIMITS.buttonText);
        expect(button.value.length).toBeLessThanOrEqual(BLOCK_LIMITS.buttonValue);
      }
    }
  }
}

describe('renderRunMessage', () => {
  describe('when a call step is running', () => {
    it('shows the header, the step list with elapsed time, the instructions and Cancel only', () => {
      const message = render(new Driver());
      expect(shape(message)).toMatchInlineSnapshot(`
        [
          "header:runbook.header",
          "section:runbook.meta",
          "section:runbook.status",
          "divider",
          "section:runbook.steps.0",
          "divider",
          "section:runbook.current.0",
          "actions[runbook.cancel]",
          "context:runbook.audit",
        ]
      `);
      expect(textOf(message, 'runbook.steps.0')).toContain('⏳ *1. Check what is serving* — running · 1m40s');
      expect(textOf(message, 'runbook.current.0')).toContain('Look at ​*the dashboard*​, then continue.');
      expect(textOf(message, 'runbook.meta')).toContain('*Requested by:* <@U0REQUEST1>');
      expect(textOf(message, 'runbook.meta')).toContain('`RUN1`');
      expect(message.text).toBe('📘 Roll back a model deployment: running at “Check what is serving” (run RUN1)');
    });
  });

  describe('when an approval step waits with one of two approvals', () => {
    it('offers Approve, Reject and Cancel with the run and step in each value, and shows who approved when', () => {
      const message = render(new Driver().ok(5).approve(20, bob));
      expect(shape(message)).toMatchInlineSnapshot(`
        [
          "header:runbook.header",
          "section:runbook.meta",
          "section:runbook.status",
          "divider",
          "section:runbook.steps.0",
          "divider",
          "section:runbook.current.0",
          "actions[runbook.approve runbook.reject runbook.cancel]",
          "context:runbook.audit",
        ]
      `);
      const actions = message.blocks.find((b) => b.type === 'actions');
      const values = actions?.type === 'actions' ? actions.elements.map((e) => decodeActionValue(e.value)) : [];
      expect(values).toEqual([{ runId: 'RUN1', stepId: 'approve' }, { runId: 'RUN1', stepId: 'approve' }, { runId: 'RUN1', stepId: 'approve' }]);
      expect(textOf(message, 'runbook.steps.0')).toContain('✅ 1. Check what is serving — succeeded · 5s');
      expect(textOf(message, 'runbook.steps.0')).toContain('waiting for approval (1/2) · approved by <@U0APPROVE1> at <!date^1700000020^{date_short_pretty} {time_secs}|2023-11-14 22:13:40Z>');
      expect(textOf(message, 'runbook.current.0')).toContain('Needs 2 approvals from @ml-oncall-leads (not the requester)');
      expect(textOf(message, 'runbook.status')).toBe('✋ *Waiting for approval* — step 2 of 5 · 1m40s so far');
    });
  });

  describe('when a manual step waits', () => {
    it('offers Done, Skip and Cancel and renders the instructions as mrkdwn', () => {
      const d = new Driver().ok(5).approve(20, bob).approve(30, carol).ok(40).ok(50);
      const message = render(d);
      expect(shape(message)).toMatchInlineSnapshot(`
        [
          "header:runbook.header",
          "section:runbook.meta",
          "section:runbook.status",
          "divider",
          "section:runbook.steps.0",
          "divider",
          "section:runbook.current.0",
          "actions[runbook.done runbook.skip runbook.cancel]",
          "context:runbook.audit",
        ]
      `);
      expect(textOf(message, 'runbook.steps.0')).toContain('✅ 2. Approve the rollback — approved by <@U0APPROVE1> at');
      expect(textOf(message, 'runbook.steps.0')).toContain(', <@U0APPROVE2> at <!date^1700000030^');
      expect(textOf(message, 'runbook.current.0')).toContain('Check the serving dashboard for five minutes, then mark this step done.');
    });
  });

  describe('when the run has finished', () => {
    const finals: [string, () => Driver, RegExp][] = [
      ['succeeded', () => new Driver().ok(5).approve(20, bob).approve(30, carol).ok(40).ok(50).sendDone(), /^✅ \*Succeeded\* in 1m30s$/],
      ['failed', () => new Driver().bad(5), /^❌ \*Failed\* at \*1\. Check what is serving\*: verify_failed: boom · after 1m30s$/],
      ['rolled_back', () => new Driver().ok(5).approve(20, bob).approve(30, carol).ok(40).bad(50).ok(60), /^↩️ \*Rolled back\* after \*4\. Verify\*: verify_failed: boom · undone: \*3\. Roll back\* · after 1m30s$/],
      ['rejected', () => new Driver().ok(5).rejectBy(bob, 25), /^🚫 \*Rejected\* by <@U0APPROVE1> at <!date\^1700000025\^.*> at \*2\. Approve the rollback\*: not today · after 1m30s$/],
      ['cancelled', () => new Driver().cancelBy(bob, 8), /^⏹️ \*Cancelled\* by <@U0APPROVE1> at <!date\^1700000008\^.*>: wrong model · after 1m30s$/],
    ];
    for (const [status, make, line] of finals) {
      it(`makes ${status} unmistakable, with the duration, the audit reference and no buttons`, () => {
        const d = make();
        expect(d.status).toBe(status);
        const message = render(d);
        expect(shape(message)).toEqual(['header:runbook.header', 'section:runbook.meta', 'section:runbook.status', 'divider', 'section:runbook.steps.0', 'context:runbook.audit']);
        expect(textOf(message, 'runbook.status')).toMatch(line);
        expect(message.blocks.at(-1)).toEqual({ type: 'context', block_id: 'runbook.audit', elements: [{ type: 'mrkdwn', text: 'audit: `runbook audit show RUN1`' }] });
        expect(textOf(message, 'runbook.header')?.startsWith(message.text.slice(0, 2))).toBe(true);
      });
    }
  });

  describe('when params or texts hold a secret', () => {
    it('masks the secret param and its value wherever it appears, thread outputs included', () => {
      const d = new Driver().ok(5, { echoed: SECRET }).approve(20, bob);
      const message = render(d);
      expect(textOf(message, 'runbook.meta')).toContain('token=`[secret]`');
      expect(textOf(message, 'runbook.current.0')).toContain('> Roll model-x back (token [secret])?');
      const posts = outputPosts(d.asRun(), ROLLBACK);
      expect(posts.map((p) => p.key)).toEqual(['check.output.1']);
      expect(JSON.stringify([message, posts])).not.toContain(SECRET);
      expect(JSON.stringify(posts)).toContain('[secret]');
    });
  });
});

describe('outputPosts', () => {
  it('posts outputs of finished calls as truncated code, errors of failed ones, and nothing for humans', () => {
    const big = { rows: 'x'.repeat(10_000), html: '<b>&</b>' };
    const d = new Driver().ok(5, big).approve(20, bob).approve(30, carol).ok(40).bad(50);
    const posts = outputPosts(d.asRun(), ROLLBACK);
    expect(posts.map((p) => p.stepId)).toEqual(['check', 'apply', 'verify']);
    const first = posts[0]?.content.blocks[0];
    const text = first?.type === 'section' ? first.text.text : '';
    expect(text.length).toBeLessThanOrEqual(BLOCK_LIMITS.sectionText);
    expect(text).toMatch(/^✅ \*1\. Check what is serving\* — output\n```\n\{\n {2}"rows": "x+…\n```$/);
    expect(posts.map((p) => p.key)).toEqual(['check.output.1', 'apply.output.1', 'verify.error.1']);
    expect(JSON.stringify(posts[2]?.content)).toContain('verify_failed: boom');
  });
});

describe('Block Kit limits', () => {
  it('keeps a 200-step runbook within 50 blocks and 3,000 characters per section, centred on the current step', () => {
    const steps = Array.from({ length: 200 }, (_, i) => `## Step ${i + 1} ${'with a long and descriptive title '.repeat(3)}{#s${i + 1}}\n\`\`\`record\nlabel: s${i + 1}\ntimeout: 10s\n\`\`\`\n`);
    const long = runbookOf(`---\ntitle: ${'A very long runbook title '.repeat(10)}\n---\n# Long\n\n${steps.join('\n')}`);
    const d = new Driver(long, {});
    for (let i = 0; i < 120; i += 1) d.ok(i + 1, { i });
    const message = renderRunMessage(d.asRun(), long, NOW);
    expectWithinLimits(message);
    const list = message.blocks.filter((b) => b.type === 'section' && b.block_id?.startsWith('runbook.steps.')).map((b) => (b.type === 'section' ? b.text.text : '')).join('\n');
    expect(list).toContain('⏳ *121. Step 121');
    const omitted = [...list.matchAll(/… (\d+) more steps/g)].map((m) => Number(m[1]));
    const shownSteps = list.split('\n').filter((l) => /^\S+ \*?\d+\. Step/.test(l)).length;
    expect(omitted.length).toBeGreaterThan(0);
    expect(omitted.reduce((a, b) => a + b, 0) + shownSteps).toBe(200);
    expect(textOf(message, 'runbook.header')?.length).toBeLessThanOrEqual(150);
  });

  it('splits a 10,000-character instruction into sections with balanced code fences and loses none of it', () => {
    const chunk = 'Para with **bold** and [a link](https://example.com/x).\n\n- item `one`\n- item two\n\n```sh\nkubectl get pods -n serving | grep model > /tmp/out\n```\n\n';
    let instructions = '';
    while (instructions.length < 10_000) instructions += chunk;
    instructions += `\`\`\`\n${'y'.repeat(4_000)}\n\`\`\`\n\nTHE END`;
    const manual = runbookOf(`# Manual\n\n## Do it by hand {#hand}\n${instructions}\n`);
    const message = renderRunMessage(new Driver(manual, {}).asRun(), manual, NOW);
    expectWithinLimits(message);
    const sections = message.blocks.flatMap((b) => (b.type === 'section' && b.block_id?.startsWith('runbook.current.') ? [b.text.text] : []));
    expect(sections.length).toBeGreaterThan(3);
    for (const text of sections) expect(text.split('\n').filter((l) => /^\s*```/.test(l)).length % 2).toBe(0);
    expect(sections.join('\n')).toContain('THE END');
    expect(sections.join('').match(/y/g)?.length).toBeGreaterThanOrEqual(4_000);
  });

  it('cuts an instruction too long for the message with a note, still within the limits', () => {
    const manual = runbookOf(`# Manual\n\n## Huge {#huge}\n${'word '.repeat(40_000)}\n`);
    const message = renderRunMessage(new Driver(manual, {}).asRun(), manual, NOW);
    expectWithinLimits(message);
    expect(JSON.stringify(message)).toContain('the rest is in the runbook file');
  });
});

describe('button values', () => {
  it('uses the action ids the bot handles', () => {
    expect(Object.values(RUN_ACTIONS)).toEqual(['runbook.approve', 'runbook.reject', 'runbook.done', 'runbook.skip', 'runbook.cancel']);
    expect(decodeActionValue('{"runId":"R","stepId":"s"}')).toEqual({ runId: 'R', stepId: 's' });
    expect(decodeActionValue('{"runId":1}')).toBeUndefined();
    expect(decodeActionValue('not json')).toBeUndefined();
  });
});


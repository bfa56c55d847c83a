import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../../src/bot/catalog.ts';
import { helpReply, listReply, planReply, runbookHelpReply } from '../../../src/bot/views/help.ts';
import { planRun } from '../../../src/machines/plan.ts';
import type { Runbook } from '../../../src/machines/ir.ts';
import { valid } from '../../helpers/runbooks.ts';

const rollback = valid(`---
id: rollback-model
title: Roll back a model
summary: Put the previous version back into serving.
tags: [ml, serving]
params:
  model: { type: string, pattern: "^[a-z0-9-]+$", description: "Model name, e.g. model-x." }
  version: { type: string, required: false, description: Version to go back to. }
approval: { quorum: 2, from: ["@ml-oncall-leads", "U024BE7LH"] }
triggers: { slack: "rollback <model> [version]" }
---
## Approve {#approve}
\`\`\`approve
message: "Roll {{ params.model }} back?"
\`\`\`

## Confirm {#confirm}
Watch the dashboards.
`);

const drift = valid(`---
id: respond-to-drift
title: Respond to drift
tags: [ml, monitoring]
---
## Look {#look}
Look at the drift dashboard.
`);

const entry = (runbook: Runbook): CatalogEntry => ({ file: `runbooks/${runbook.id}.md`, source: '', runbook });

describe('runbookHelpReply', () => {
  const help = runbookHelpReply(rollback).text;

  it('shows the title, summary and usage line', () => {
    expect(help).toContain('*Roll back a model* (`rollback-model`)');
    expect(help).toContain('Put the previous version back into serving.');
    expect(help).toContain('Usage: `/runbook rollback &lt;model&gt; [version] [name=value…]`');
  });
  it('lists every param with its type, need and description', () => {
    expect(help).toContain('• `model` (string, required, matching `^[a-z0-9-]+$`): Model name, e.g. model-x.');
    expect(help).toContain('• `version` (string, optional): Version to go back to.');
  });
  it('says who must approve', () => {
    expect(help).toContain('`approve` needs 2 approvals from @ml-oncall-leads or <@U024BE7LH>, not the requester');
  });
  it('has blocks saying the same as the text', () => {
    const blocks = runbookHelpReply(rollback).blocks ?? [];
    expect(blocks.length).toBeGreaterThan(2);
    expect(JSON.stringify(blocks)).toContain('Model name, e.g. model-x.');
  });
});

describe('helpReply', () => {
  it('explains the grammar and every built-in', () => {
    const text = helpReply([entry(rollback)]).text;
    for (const builtin of ['/runbook list [tag]', '/runbook help [runbook]', '/runbook plan <runbook>', '/runbook status [run]', '/runbook cancel <run>']) {
      expect(text).toContain(builtin);
    }
    expect(text).toContain('`reason="disk full"`');
  });
  it('gives the loaded runbooks as examples', () => {
    expect(helpReply([entry(rollback)]).text).toContain('`/runbook rollback &lt;model&gt; [version] [name=value…]` — Roll back a model');
    expect(helpReply([]).text).toContain('No runbooks are loaded.');
  });
});

describe('listReply', () => {
  const entries = [entry(rollback), entry(drift)];
  it('lists every runbook with its command and usage', () => {
    const text = listReply(entries).text;
    expect(text).toContain('Runbooks (2)');
    expect(text).toContain('*`rollback`* Roll back a model');
    expect(text).toContain('*`respond-to-drift`* Respond to drift');
  });
  it('keeps only the runbooks with the tag', () => {
    const text = listReply(entries, 'Monitoring').text;
    expect(text).toContain('Runbooks tagged `Monitoring` (1)');
    expect(text).not.toContain('rollback');
  });
  it('names the tags there are when none matches', () => {
    expect(listReply(entries, 'nope').text).toBe('No runbook is tagged `nope`. Tags: `ml`, `monitoring`, `serving`');
  });
});

describe('planReply', () => {
  it('shows each step and its resolved input, and that nothing ran', () => {
    const text = planReply(planRun(rollback, { model: 'model-x' }), rollback).text;
    expect(text).toContain('Plan for *Roll back a model* (`rollback-model`) with `model=model-x`');
    expect(text).toContain('1. *Approve* (`approve`) [approve]');
    expect(text).toContain('Roll model-x back?');
    expect(text).toContain('Nothing was executed.');
  });
});

import { describe, expect, it } from 'vitest';
import { closestNames, createRunbookCatalog, editDistance } from '../../../src/bot/catalog.ts';
import type { LoadedRunbook } from '../../../src/machines/load.ts';
import { load } from '../../helpers/runbooks.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

const file = (id: string, usage?: string): LoadedRunbook =>
  load(`---\nid: ${id}\ntitle: ${id}\nparams: { model: { type: string, required: false } }\n${usage ? `triggers: { slack: "${usage}" }\n` : ''}---\n## Look\nLook.\n`, `runbooks/${id}.md`);

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps', () => {
    expect(editDistance('rollback', 'rollback')).toBe(0);
    expect(editDistance('rollbak', 'rollback')).toBe(1);
    expect(editDistance('rollbcak', 'rollback')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe('closestNames', () => {
  const known = ['rollback', 'rollback-model', 'failover', 'failover-region', 'drift'];
  it('suggests names a typo away, closest first', () => {
    expect(closestNames('rollbak', known, 3)).toEqual(['rollback']);
    expect(closestNames('falover', known, 3)[0]).toBe('failover');
  });
  it('suggests names containing what was typed', () => {
    expect(closestNames('region', known, 3)).toEqual(['failover-region']);
  });
  it('suggests nothing for an unrelated word', () => {
    expect(closestNames('zebra', known, 3)).toEqual([]);
  });
});

describe('createRunbookCatalog', () => {
  describe('when runbooks load', () => {
    it('finds a runbook by Slack command or id, case-insensitively', async () => {
      const catalog = await createRunbookCatalog({ load: async () => [file('rollback-model', 'rollback <model>'), file('check')], logger: quiet });
      expect(catalog.find('rollback')?.runbook.id).toBe('rollback-model');
      expect(catalog.find('Rollback-Model')?.runbook.id).toBe('rollback-model');
      expect(catalog.find('check')?.file).toBe('runbooks/check.md');
      expect(catalog.find('nope')).toBeUndefined();
      expect(catalog.status()).toEqual({ loaded: true, count: 2, invalid: [] });
    });
    it('leaves out runbooks with errors, naming them', async () => {
      const broken = load('---\nid: broken\nparams: 3\n---\n## x\n', 'runbooks/broken.md');
      const catalog = await createRunbookCatalog({ load: async () => [broken, file('check')], logger: quiet });
      expect(catalog.entries().map((e) => e.runbook.id)).toEqual(['check']);
      expect(catalog.status().invalid).toEqual(['runbooks/broken.md']);
    });
    it('never lets a Slack command hide another runbook\'s id', async () => {
      const catalog = await createRunbookCatalog({ load: async () => [file('check'), file('other', 'check')], logger: quiet });
      expect(catalog.find('check')?.runbook.id).toBe('check');
      expect(catalog.find('other')?.runbook.id).toBe('other');
    });
  });

  describe('when reading fails', () => {
    it('is not loaded at first, and keeps the last good set after a later failure', async () => {
      let fail = true;
      const catalog = await createRunbookCatalog({ load: async () => { if (fail) throw new Error('no such folder'); return [file('check')]; }, logger: quiet });
      expect(catalog.status()).toMatchObject({ loaded: false, count: 0, error: 'no such folder' });
      fail = false;
      await catalog.reload();
      expect(catalog.status()).toEqual({ loaded: true, count: 1, invalid: [] });
      fail = true;
      await catalog.reload();
      expect(catalog.find('check')).toBeDefined();
    });
  });

  describe('when the last read is old', () => {
    it('re-reads in the background', async () => {
      let now = 0;
      let reads = 0;
      const catalog = await createRunbookCatalog({ load: async () => { reads += 1; return [file('check')]; }, logger: quiet, clock: () => now, maxAgeMs: 1_000 });
      catalog.refreshIfStale();
      expect(reads).toBe(1);
      now = 1_001;
      catalog.refreshIfStale();
      await catalog.reload();
      expect(reads).toBe(2);
    });
  });
});

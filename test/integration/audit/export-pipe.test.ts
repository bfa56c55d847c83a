/**
 * `runbook audit export | head`: the reader closing the pipe early is the normal end of a
 * pipeline, so the export stops quietly with exit 0 instead of crashing on EPIPE.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteAuditStore } from '../../../src/audit/index.ts';

const BIN = fileURLToPath(new URL('../../../bin/runbook.mjs', import.meta.url));
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'runbook-export-pipe-'));
  const store = openSqliteAuditStore({ path: join(dataDir, 'audit.sqlite3') });
  for (let batch = 0; batch < 20; batch += 1) {
    await store.append(Array.from({ length: 250 }, (_, i) => ({ id: `r.${batch}.${i}`, at: Date.UTC(2026, 0, 1), actor: 'system', type: 'test.record', data: { i, pad: 'x'.repeat(200) } })));
  }
  await store.close();
});

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('runbook audit export', () => {
  describe('when the reader closes the pipe after the first line', () => {
    it('exits 0 and prints no error', async () => {
      const child = spawn(process.execPath, [BIN, 'audit', 'export', '--format', 'jsonl'], {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', DATA_DIR: dataDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const first = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8'))));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(first).toContain('"type":"test.record"');
      expect(stderr).not.toContain('EPIPE');
      expect(code).toBe(0);
    }, 30_000);
  });
});

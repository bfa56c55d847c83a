import type { Diagnostic } from './diagnostics.ts';
export function checkSource(file: string, text: string): { text: string; diagnostics: Diagnostic[]; lexable: boolean } {
  const t = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  if (t.trim() === '') return { text: t, lexable: false, diagnostics: [{ severity: 'error', code: 'empty-runbook', message: 'empty', location: { file, line: 1, column: 1 } }] };
  return { text: t, diagnostics: [], lexable: true };
}

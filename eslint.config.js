// Lint rules, including the layer rules of DESIGN.md §4: dependencies point one way,
// machines ← engine ← (executors, bot); integrations are leaves; nothing imports bot/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*'];
const outsideWorld = ['bullmq', 'ioredis', '@slack/*', '@pagerduty/*', '@aws-sdk/*', 'better-sqlite3', 'pg'];

/** @param {string[]} patterns @param {string} message */
function forbid(patterns, message) {
  return { group: patterns, message };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'var/', 'coverage/', '.scratch*/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-eval': 'error',
      'no-new-func': 'error',
      'no-implied-eval': 'error',
    },
  },
  // General rule first: the per-layer blocks below replace it with stricter lists.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/bot/**', 'src/cli/**', 'src/sandbox/**', 'src/dev/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [forbid(['**/bot/**', '**/sandbox/**'], 'Nothing imports bot/; sandbox/ is only for tests, cli and dev wiring.')],
      }],
    },
  },
  {
    files: ['src/machines/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          forbid(nodeBuiltins, 'src/machines is pure: no I/O, no clock, no env (DESIGN.md §4).'),
          forbid(outsideWorld, 'src/machines is pure: no I/O (DESIGN.md §4).'),
          forbid(['**/engine/**', '**/executors/**', '**/bot/**', '**/integrations/**', '**/cli/**', '**/sandbox/**', '**/audit/**', '**/policy/**'],
            'src/machines depends on nothing above it (DESIGN.md §4).'),
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'process', message: 'src/machines does not read env or process state.' },
        { name: 'Date', message: 'src/machines does not read the clock: time comes in on events.' },
        { name: 'setTimeout', message: 'Timers are BullMQ delayed jobs, never in-process.' },
        { name: 'fetch', message: 'src/machines does no I/O.' }],
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          forbid(['@slack/*', '@pagerduty/*'], 'src/engine never imports Slack or PagerDuty code (DESIGN.md §4).'),
          forbid(['**/bot/**', '**/cli/**', '**/sandbox/**', '**/executors/**'], 'src/engine does not depend on bot, cli, sandbox or executors: executors depend on it (DESIGN.md §4).'),
        ],
      }],
    },
  },
  {
    files: ['src/executors/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          forbid(['@slack/*'], 'Executors know nothing about Slack (DESIGN.md §4).'),
          forbid(['**/bot/**', '**/cli/**', '**/sandbox/**'], 'Executors do not depend on bot, cli or sandbox.'),
        ],
      }],
    },
  },
  {
    files: ['src/integrations/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [forbid(['**/engine/**', '**/bot/**', '**/cli/**', '**/sandbox/**', '**/executors/**'],
          'Integrations are leaves: they import neither engine nor bot (DESIGN.md §4).')],
      }],
    },
  },
  {
    files: ['src/bot/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [forbid(['**/sandbox/**'], 'The bot cannot tell it talks to a sandbox: it never imports one.')],
      }],
    },
  },
);

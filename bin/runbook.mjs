#!/usr/bin/env node
// The `runbook` command. It runs the TypeScript sources directly through tsx, so a clean clone
// needs nothing but `npm ci`: there is no build step to forget and no stale build to debug.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every start that Node 20 support ends in 2027; the version is pinned.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

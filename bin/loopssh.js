#!/usr/bin/env node
// Launcher. In a checkout (src/ present) it runs the TypeScript CLI through
// tsx, so edits take effect without a build; an installed package runs the
// compiled dist/.
import { existsSync } from 'node:fs';

process.env.LOOPSSH_CLI_ENTRY = '1';
const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}

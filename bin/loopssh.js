#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
process.env.LOOPSSH_CLI_ENTRY = '1';
await import('../src/cli/main.ts');

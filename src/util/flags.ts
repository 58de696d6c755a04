/**
 * A small strict flag parser shared by the server's built-in commands and the
 * CLI. Strict means: an unknown flag, a missing value or a repeated flag is an
 * error naming it, never silently ignored.
 */

import { clip } from './text.js';

/** Bad arguments: the message is one line, fit to print after `loopssh: `. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What a flag takes: a value (`--port 22`, `--port=22`) or nothing (`--naive`). */
export type FlagKind = 'value' | 'boolean';

/** Flag table: long name (without `--`) → kind; `alias` maps short forms like `o` → `output`. */
export interface FlagSpec {
  flags: Record<string, FlagKind>;
  alias?: Record<string, string>;
  /** Stop at the first positional: the rest is a command with flags of its own (like `ssh host cmd -x`). */
  stopAtPositional?: boolean;
}

/** Parsed arguments: flag values by long name, then positionals in order. */
export interface ParsedFlags {
  values: Map<string, string | true>;
  positionals: string[];
}

/**
 * Parses `args` against `spec`. Flags may come before or between
 * positionals; `--` ends flags (everything after it is positional).
 * `-o FILE` style short aliases take their value from the next word.
 */
export function parseFlags(args: readonly string[], spec: FlagSpec, context = ''): ParsedFlags {
  const values = new Map<string, string | true>();
  const positionals: string[] = [];
  const where = context ? ` for ${context}` : '';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (arg.startsWith('-') && arg.length === 2 && spec.alias && Object.hasOwn(spec.alias, arg.slice(1))) {
      name = spec.alias[arg.slice(1)] as string;
    } else if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      throw new UsageError(`unknown option '${clip(arg)}'${where}`);
    } else {
      if (spec.stopAtPositional) {
        positionals.push(...args.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    const kind = Object.hasOwn(spec.flags, name) ? spec.flags[name] : undefined;
    if (!kind) throw new UsageError(`unknown option '--${clip(name)}'${where}`);
    if (values.has(name)) throw new UsageError(`option --${name} given twice${where}`);
    if (kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value${where}`);
      values.set(name, true);
    } else {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`option --${name} needs a value${where}`);
      values.set(name, value);
    }
  }
  return { values, positionals };
}

/** Parses a whole number in [min, max], naming the flag in the error. */
export function parseInteger(text: string, name: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`${name} must be a whole number, not '${clip(text)}'`);
  const n = Number(text) + 0; // + 0 turns -0 into 0
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} must be between ${min} and ${max}, not ${clip(text)}`);
  }
  return n;
}

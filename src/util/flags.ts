/**
 * A small strict flag parser shared by the server's built-in commands and the
 * CLI. Strict means: an unknown flag, a missing value or a repeated flag is an
 * error naming it, never silently ignored (the server parses words that come
 * from the network).
 *
 * A command describes its flags once, in a {@link FlagTable}: the parser, the
 * typed result and the help text all come from that table, so they cannot
 * drift apart.
 */

import { parseSize, SizeError } from './size.js';
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

/** Parses a byte size (`4MiB`, `1000`) given for flag `name`, naming it in the error. */
export function parseSizeFlag(text: string, name: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    if (err instanceof SizeError) throw new UsageError(`${name}: ${err.message}`);
    throw err;
  }
}

/** One flag of a command: what it takes, its short form and its help. */
export interface FlagDef {
  /** `value` takes the next word (or `--flag=value`); `boolean` takes none. */
  readonly kind: FlagKind;
  /** One-letter short form: `o` makes `-o FILE` mean `--output FILE`. */
  readonly alias?: string;
  /** How help names the value, e.g. `FILE`. Default `VALUE`. */
  readonly arg?: string;
  /** What the flag does; each `\n` starts a continuation line. */
  readonly help: string;
  /** Heading help lists the flag under, e.g. `connection`. */
  readonly section: string;
}

/** A command's flags by long name (without `--`), in help order. */
export type FlagTable = Readonly<Record<string, FlagDef>>;

/** The parsed values of a table: a string per given value flag, `true` per given boolean. */
export type FlagValues<T extends FlagTable> = {
  readonly [K in keyof T]?: T[K]['kind'] extends 'boolean' ? true : string;
};

/** Typed result of {@link parseTable}. */
export interface ParsedTable<T extends FlagTable> {
  values: FlagValues<T>;
  positionals: string[];
}

/** Declares a flag table, keeping each flag's literal kind for {@link FlagValues}. */
export function flagTable<const T extends FlagTable>(table: T): T {
  return table;
}

/** The parser's view of a table: kinds by name and aliases. */
export function flagSpec(table: FlagTable, stopAtPositional = false): FlagSpec {
  const flags: Record<string, FlagKind> = {};
  const alias: Record<string, string> = {};
  for (const [name, def] of Object.entries(table)) {
    flags[name] = def.kind;
    if (def.alias !== undefined) alias[def.alias] = name;
  }
  return { flags, alias, stopAtPositional };
}

/** Parses `args` strictly against `table` (see {@link parseFlags}), with typed values. */
export function parseTable<T extends FlagTable>(
  args: readonly string[],
  table: T,
  context = '',
  stopAtPositional = false,
): ParsedTable<T> {
  const { values, positionals } = parseFlags(args, flagSpec(table, stopAtPositional), context);
  // A prototype-free object: a flag named like an Object.prototype member stays just a flag.
  const typed: Record<string, string | true> = Object.create(null);
  for (const [name, value] of values) typed[name] = value;
  return { values: typed as FlagValues<T>, positionals };
}

/** Help column where descriptions start (wider when a flag needs it). */
const HELP_COLUMN = 24;

/**
 * Help lines for the flags of `table`, aligned in one column; with
 * `sections`, grouped under `heading:` lines in first-seen order.
 */
export function flagHelp(table: FlagTable, options: { indent?: number; sections?: boolean } = {}): string {
  const indent = ' '.repeat(options.indent ?? 2);
  const left = (name: string, def: FlagDef): string =>
    `${indent}${def.alias === undefined ? '' : `-${def.alias}, `}--${name}${def.kind === 'value' ? ` ${def.arg ?? 'VALUE'}` : ''}`;
  const entries = Object.entries(table);
  const column = Math.max(HELP_COLUMN, ...entries.map(([name, def]) => left(name, def).length + 2));
  const render = ([name, def]: [string, FlagDef]): string =>
    def.help
      .split('\n')
      .map((text, i) => (i === 0 ? left(name, def).padEnd(column) : ' '.repeat(column)) + text)
      .join('\n');
  if (!options.sections) return entries.map(render).join('\n');
  const bySection = new Map<string, [string, FlagDef][]>();
  for (const entry of entries) {
    const list = bySection.get(entry[1].section) ?? [];
    list.push(entry);
    bySection.set(entry[1].section, list);
  }
  return [...bySection].map(([section, list]) => `${section}:\n${list.map(render).join('\n')}`).join('\n\n');
}

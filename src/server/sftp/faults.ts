/**
 * Fault options of a virtual SFTP file, written after its size in the path:
 * `/payload/random/7/1GiB,short=1000,drop=5MiB`. Commas, not `?`: OpenSSH's
 * sftp and scp glob remote names, and `?` is a glob character.
 */
import { parseSize, SizeError } from '../../util/size.js';

/** What a file does wrong on purpose. Every field is optional; none set = a well-behaved file. */
export interface FileFaults {
  /** Each READ answers at most this many bytes (SFTP allows short reads; some clients take them for EOF). */
  short?: number;
  /** Reads at or past this offset answer EOF although stat reports the full size. */
  eof?: number;
  /** stat/fstat/readdir report this size instead of the real one. */
  stat?: number;
  /** Every READ reply is held back this many ms. */
  delayMs?: number;
  /** Replies are paced to this many bytes per second. */
  rate?: number;
  /** The SFTP channel is closed once this many bytes were served (or, for an upload, received). */
  drop?: number;
  /** The whole connection is cut once this many bytes were served (or received). */
  dropConnection?: number;
}

/** The fault option names, as written in paths, for help text and errors. */
export const FAULT_OPTIONS = ['short=SIZE', 'eof=SIZE', 'stat=SIZE', 'delay=MS', 'rate=SIZE', 'drop=SIZE', 'drop-conn=SIZE'] as const;

/** A path option loopssh does not know, or a value it cannot parse. */
export class FaultSyntaxError extends Error {}

/**
 * Parses `name=value` options (already split at commas).
 * @throws FaultSyntaxError naming the bad option
 */
export function parseFaults(options: readonly string[]): FileFaults {
  const faults: FileFaults = {};
  for (const option of options) {
    const eq = option.indexOf('=');
    const name = eq < 0 ? option : option.slice(0, eq);
    const value = eq < 0 ? '' : option.slice(eq + 1);
    let n: number;
    try {
      n = name === 'delay' ? parseMs(value) : parseSize(value);
    } catch (err) {
      if (err instanceof SizeError || err instanceof FaultSyntaxError) throw new FaultSyntaxError(`path option '${name}': ${err.message}`);
      throw err;
    }
    switch (name) {
      case 'short':
        if (n < 1) throw new FaultSyntaxError("path option 'short' must be at least 1");
        faults.short = n;
        break;
      case 'eof':
        faults.eof = n;
        break;
      case 'stat':
        faults.stat = n;
        break;
      case 'delay':
        faults.delayMs = n;
        break;
      case 'rate':
        if (n < 1) throw new FaultSyntaxError("path option 'rate' must be at least 1");
        faults.rate = n;
        break;
      case 'drop':
        faults.drop = n;
        break;
      case 'drop-conn':
        faults.dropConnection = n;
        break;
      default:
        throw new FaultSyntaxError(`unknown path option '${name.slice(0, 40)}' (expected ${FAULT_OPTIONS.join(', ')})`);
    }
  }
  return faults;
}

function parseMs(value: string): number {
  if (!/^[0-9]{1,7}$/.test(value)) throw new FaultSyntaxError(`expected milliseconds (0-9999999), got '${value.slice(0, 40)}'`);
  return Number(value);
}

/** The options back in path form, for records and listings (`short=1000,drop=5242880`). */
export function formatFaults(faults: FileFaults): string {
  const parts: string[] = [];
  if (faults.short !== undefined) parts.push(`short=${faults.short}`);
  if (faults.eof !== undefined) parts.push(`eof=${faults.eof}`);
  if (faults.stat !== undefined) parts.push(`stat=${faults.stat}`);
  if (faults.delayMs !== undefined) parts.push(`delay=${faults.delayMs}`);
  if (faults.rate !== undefined) parts.push(`rate=${faults.rate}`);
  if (faults.drop !== undefined) parts.push(`drop=${faults.drop}`);
  if (faults.dropConnection !== undefined) parts.push(`drop-conn=${faults.dropConnection}`);
  return parts.join(',');
}

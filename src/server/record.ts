/**
 * What the server saw, kept bounded: the most recent entries of each list
 * plus totals that count everything. A hostile client chooses how many
 * connections, failed logins and user-name bytes it sends; none of that may
 * grow the server's memory without limit (loopssh issue 15, point 1).
 */
import { clip } from '../util/text.js';
import type { AuthRecord, CommandRecord, ConnectionRecord, ServerRecord, TransferRecord } from './types.js';

/** Entries kept per list of {@link ServerRecord} unless `recordLimit` says otherwise. */
export const DEFAULT_RECORD_LIMIT = 1000;

/** Longest user name kept in records and log lines, in characters (longer ones are clipped, marked with '…'). */
export const USER_NAME_MAX = 64;

/** A client-chosen user name made safe to keep and to log: clipped, control characters escaped. */
export function recordedUser(name: string): string {
  return clip(name, USER_NAME_MAX);
}

/** An empty record. */
export function emptyRecord(): ServerRecord {
  return { connections: [], authAttempts: [], commands: [], transfers: [], refused: 0, dropped: 0, throttled: 0, bufferBytesPeak: 0, totals: { connections: 0, authAttempts: 0, commands: 0, transfers: 0 } };
}

/** Appends to a {@link ServerRecord}, keeping the newest `limit` entries per list. */
export class Recorder {
  readonly seen: ServerRecord = emptyRecord();

  /** @param limit entries kept per list; 0 keeps none (the totals still count). */
  constructor(private readonly limit: number) {}

  connection(entry: ConnectionRecord): void {
    this.#add('connections', entry);
  }

  authAttempt(entry: AuthRecord): void {
    this.#add('authAttempts', entry);
  }

  command(entry: CommandRecord): void {
    this.#add('commands', entry);
  }

  transfer(entry: TransferRecord): void {
    this.#add('transfers', entry);
  }

  /** Counts `entry` in its total and keeps it in the list of the same name. */
  #add<K extends keyof ServerRecord['totals']>(list: K, entry: ServerRecord[K][number]): void {
    this.seen.totals[list]++;
    this.#keep<ServerRecord[K][number]>(this.seen[list], entry);
  }

  #keep<T>(list: T[], entry: T): void {
    if (this.limit <= 0) return;
    if (list.length >= this.limit) list.splice(0, list.length - this.limit + 1);
    list.push(entry);
  }
}

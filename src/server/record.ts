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
    this.seen.totals.connections++;
    this.#keep(this.seen.connections, entry);
  }

  authAttempt(entry: AuthRecord): void {
    this.seen.totals.authAttempts++;
    this.#keep(this.seen.authAttempts, entry);
  }

  command(entry: CommandRecord): void {
    this.seen.totals.commands++;
    this.#keep(this.seen.commands, entry);
  }

  transfer(entry: TransferRecord): void {
    this.seen.totals.transfers++;
    this.#keep(this.seen.transfers, entry);
  }

  // Entries are objects the server goes on updating (a connection's user, a
  // command's exit), so the list holds them by reference; dropping the oldest
  // just lets them go. splice() at the limit moves at most `limit` pointers.
  #keep<T>(list: T[], entry: T): void {
    if (this.limit <= 0) return;
    if (list.length >= this.limit) list.splice(0, list.length - this.limit + 1);
    list.push(entry);
  }
}

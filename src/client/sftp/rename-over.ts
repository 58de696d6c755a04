/**
 * Puts a finished upload in place: renames the temporary name over the
 * target, as atomically as the server allows, and never destroys the old
 * target unless the new file is complete and the server said "exists".
 */

/** SSH_FX_FAILURE: what an SFTP v3 RENAME onto an existing file answers. */
const FX_FAILURE = 4;

/** The SFTP requests {@link renameOver} sends; each settles with the server's error, or undefined. */
export interface RenameRequests {
  /** posix-rename@openssh.com, or 'unadvertised' when the server did not offer it. */
  posixRename(from: string, to: string): Promise<Error | undefined | 'unadvertised'>;
  rename(from: string, to: string): Promise<Error | undefined>;
  exists(path: string): Promise<boolean>;
  remove(path: string): Promise<Error | undefined>;
}

/** What {@link renameOver} did: the error if it failed, and whether the old target was already removed. */
export interface RenameOutcome {
  error?: Error;
  targetRemoved: boolean;
}

/**
 * Renames `temp` over `target`. With posix-rename@openssh.com (advertised by
 * OpenSSH's sftp-server) this is one atomic replace. SFTP v3's RENAME fails
 * with FX_FAILURE when the target exists; only then, and only if the target
 * does exist, the target is removed and the rename tried again: the best v3
 * allows, with a moment where `target` is missing (never one where it is
 * truncated). Any other refusal leaves the old target alone.
 */
export async function renameOver(requests: RenameRequests, temp: string, target: string): Promise<RenameOutcome> {
  const posix = await requests.posixRename(temp, target);
  if (posix !== 'unadvertised') return { error: posix, targetRemoved: false };
  const first = await requests.rename(temp, target);
  if (!first) return { targetRemoved: false };
  if ((first as { code?: unknown }).code !== FX_FAILURE || !(await requests.exists(target))) return { error: first, targetRemoved: false };
  const removed = await requests.remove(target);
  if (removed) return { error: removed, targetRemoved: false };
  return { error: await requests.rename(temp, target), targetRemoved: true };
}

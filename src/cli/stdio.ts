/**
 * The CLI's own stdio.
 */

/**
 * A pipe on stdout/stderr is shared with other processes, and Node (or a
 * loader touching process.stdout) makes it O_NONBLOCK for all of them: a
 * sibling writer then fails with EAGAIN. Put it back to blocking; payload
 * bytes go through fs writes on fd 1 from the thread pool (FdWriteStream), so
 * the event loop never blocks on it. Node restores the flags it found at exit.
 */
export function keepStdioBlocking(): void {
  for (const stream of [process.stdout, process.stderr]) {
    (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => number } })._handle?.setBlocking?.(true);
  }
}

/**
 * Upload sources for the atomic-upload tests: one that never ends (to cancel
 * mid-transfer) and one that fails after a given number of bytes.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/** Random 64 KiB chunks forever; the test cancels it. */
export function endlessSource(): Readable {
  const chunk = randomBytes(64 * 1024);
  return new Readable({
    read() {
      this.push(chunk);
    },
  });
}

/** `bytes` random bytes in 64 KiB chunks, then an error: a local read failing mid-upload. */
export function failingSource(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        this.destroy(new Error('local read failed (test)'));
        return;
      }
      const n = Math.min(64 * 1024, bytes - sent);
      sent += n;
      this.push(randomBytes(n));
    },
  });
}

/** Waits (one event-loop turn at a time, no fixed sleep) until `ready()` is true. */
export async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setImmediate(r));
}

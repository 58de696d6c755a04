/**
 * The naive SFTP download, kept to demonstrate real losses (the exec
 * counterpart is ../naive.ts; see docs/close-semantics.md): one READ at a
 * time, and
 * - a READ answering fewer bytes than asked is taken for the end of the
 *   file, as curl's SFTP download did (https://github.com/curl/curl/issues/4344);
 *   SFTP allows short reads anywhere, and only an EOF status ends a file;
 * - the size the server's stat reported is never compared with what arrived;
 * - it is done when the last READ was answered, written in place, without
 *   waiting for the target's 'close' (ssh2-sftp-client's get() "finishes
 *   before the last bytes are read",
 *   https://github.com/theophilusx/ssh2-sftp-client/issues/387).
 */
import type { Hash } from 'node:crypto';
import type { SFTPWrapper } from 'ssh2';
import type { OutputSink } from '../../engine/targets.js';

/**
 * Reads `handle` into `sink` the naive way and resolves with the bytes read;
 * the sink is ended but not waited for.
 */
export async function naiveRead(sftp: SFTPWrapper, handle: Buffer, sink: OutputSink, chunkSize: number, hash: Hash | undefined): Promise<number> {
  let offset = 0;
  sink.stream.on('error', () => {});
  for (;;) {
    const buf = Buffer.allocUnsafe(chunkSize);
    // ssh2 answers an EOF status as 0 bytes read.
    const n = await new Promise<number>((resolve, reject) => sftp.read(handle, buf, 0, chunkSize, offset, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))));
    if (n > 0) {
      const chunk = buf.subarray(0, n);
      hash?.update(chunk);
      sink.stream.write(chunk);
      offset += n;
    }
    if (n < chunkSize) break; // the naive step: short read = EOF
  }
  if (!sink.keptOpen) sink.stream.end();
  return offset;
}

/**
 * A registered file given as a function returning a Readable
 * (`sftpFiles: { NAME: () => stream }`, optionally with a `size` property):
 * served by reading the stream front to back, once per open handle.
 */
import type { Readable } from 'node:stream';

/** A function that opens the file's bytes as a stream; `size`, if set, is what stat reports. */
export type StreamedFile = (() => Readable) & { readonly size?: number };

/** The reader a FileNode holds for a {@link StreamedFile}: sequential reads only. */
export interface StreamReader {
  /** Set when the function has no `size`: stat reports 0 and reads go on to the stream's end. */
  readonly unknownSize: boolean;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * Adapts `open` to offset reads. The stream is opened on the first read (a
 * stat or listing never opens it). Each read is filled completely unless the
 * stream ends, so a client's pipelined READs at offsets 0, L, 2L… all land in
 * order; any other offset is refused with a message saying why.
 */
export function streamReader(open: StreamedFile): StreamReader {
  let stream: Readable | undefined;
  let position = 0;
  let ended = false;
  let failure: Error | undefined;
  let leftover: Buffer | undefined;
  const more = (s: Readable): Promise<Buffer | undefined> =>
    new Promise((resolve, reject) => {
      const tryRead = (): void => {
        const chunk = s.read() as Buffer | string | null;
        if (chunk !== null) return done(() => resolve(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
        if (ended || s.readableEnded) return done(() => resolve(undefined));
        if (failure) return done(() => reject(failure));
      };
      const done = (then: () => void): void => {
        s.off('readable', tryRead).off('end', tryRead).off('error', tryRead);
        then();
      };
      s.on('readable', tryRead).on('end', tryRead).on('error', tryRead);
      tryRead();
    });
  return {
    unknownSize: typeof open.size !== 'number',
    async read(offset, length) {
      if (ended && !leftover && offset >= position) return new Uint8Array(0);
      if (offset !== position) throw new Error(`this file is a stream and reads only in order: asked for offset ${offset}, next is ${position}`);
      if (!stream) {
        stream = open();
        stream.on('end', () => (ended = true)).on('error', (err: Error) => (failure = err));
      }
      const pieces: Buffer[] = [];
      let got = 0;
      while (got < length) {
        const chunk = leftover ?? (await more(stream));
        leftover = undefined;
        if (chunk === undefined) {
          ended = true;
          break;
        }
        const take = Math.min(chunk.length, length - got);
        if (take < chunk.length) leftover = chunk.subarray(take);
        pieces.push(take < chunk.length ? chunk.subarray(0, take) : chunk);
        got += take;
      }
      position += got;
      return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, got);
    },
  };
}

/** True for a {@link StreamReader} whose function had no `size`: its end is the stream's end. */
export function hasUnknownSize(content: object): boolean {
  return 'unknownSize' in content && content.unknownSize === true;
}

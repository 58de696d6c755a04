/**
 * Reused buffers for large outbound SSH packets (loopssh issue 14, lever
 * "reused packet buffers").
 *
 * ssh2 1.17 allocates every packet with `Buffer.allocUnsafe`: above 4 KiB
 * that is a fresh ArrayBuffer per 32 KiB packet, freed only by the garbage
 * collector. A slab here is handed out for one packet, travels through the
 * cipher (in place) into `socket.write(packet, done)`, and comes back to the
 * free list only in that write's callback — the point where Node's stream
 * has handed it to the kernel and holds no reference to it any more. A slab
 * whose packet is never written (cipher freed, connection gone) is simply
 * left to the garbage collector.
 */

/** Slab size: a 32 KiB CHANNEL_(EXTENDED_)DATA packet with its 13-byte header, 5-byte length/padding header, ≤ 255 padding bytes and a 16-byte tag fits. */
export const SLAB_BYTES = 32 * 1024 + 512;
/** Below this `Buffer.allocUnsafe` takes the bytes from Node's shared 8 KiB pool: nothing to save. */
export const MIN_SLAB_PACKET = 4 * 1024 + 1;
/** Free slabs kept at most (per process): 2 MiB, one ssh2 channel window. */
export const MAX_FREE_SLABS = 64;

const FREE = 0;
const TAKEN = 1;
const WRITING = 2;
/** Written twice (never seen in ssh2 1.17): never reused, left to the GC. */
const RETIRED = 3;

/** One reusable buffer and its write-callback. */
export interface Slab {
  readonly buf: Buffer;
  /** The last view handed out (reused while the packet size repeats: no allocation per packet). */
  view: Buffer;
  state: number;
  /** Pass to `socket.write(view, done)`: returns the slab once the write completed. */
  readonly done: (err?: Error | null) => void;
}

/** A free list of packet-sized buffers; see the module comment for when one is reused. */
export class PacketSlabs {
  readonly #free: Slab[] = [];
  readonly #owner = new WeakMap<ArrayBufferLike, Slab>();
  readonly #maxFree: number;
  /** Counters for tests and the docs: slabs made, and packets served from a reused slab. */
  readonly stats = { created: 0, reused: 0 };

  constructor(maxFree = MAX_FREE_SLABS) {
    this.#maxFree = maxFree;
  }

  /** A buffer of exactly `size` bytes backed by a slab, or undefined when `size` is not slab-sized. */
  take(size: number): Buffer | undefined {
    if (size < MIN_SLAB_PACKET || size > SLAB_BYTES) return undefined;
    let slab = this.#free.pop();
    if (slab) this.stats.reused++;
    else slab = this.#create();
    slab.state = TAKEN;
    if (slab.view.length !== size) slab.view = slab.buf.subarray(0, size);
    return slab.view;
  }

  /**
   * Called for each buffer about to be written to the socket: the slab it is
   * a view of, when it is one handed out by {@link take} and not yet being
   * written (its `done` must then go with the write); else undefined.
   */
  claimForWrite(data: Uint8Array): Slab | undefined {
    const slab = this.#owner.get(data.buffer);
    if (slab === undefined) return undefined;
    if (slab.state === TAKEN) {
      slab.state = WRITING;
      return slab;
    }
    // The same bytes in a second write before the first completed: retire the slab.
    slab.state = RETIRED;
    return undefined;
  }

  /** A slab handed out whose packet will not be written after all (the socket is gone): reusable at once. */
  unused(slab: Slab): void {
    if (slab.state === WRITING) this.#release(slab);
  }

  #create(): Slab {
    this.stats.created++;
    const buf = Buffer.allocUnsafeSlow(SLAB_BYTES);
    const slab: Slab = {
      buf,
      view: buf,
      state: FREE,
      done: (err) => {
        // On an error the connection is gone: drop the slab rather than reason about it.
        if (slab.state === WRITING && !err) this.#release(slab);
        else slab.state = RETIRED;
      },
    };
    this.#owner.set(buf.buffer, slab);
    return slab;
  }

  #release(slab: Slab): void {
    slab.state = FREE;
    if (this.#free.length < this.#maxFree) this.#free.push(slab);
  }
}

/**
 * loopssh: an embedded SSH server + client pair that never loses output.
 *
 * The public API, all of it: the server (also at `loopssh/server`), the
 * client (also at `loopssh/client`), the FlushTracker the client's runs are
 * built on, and the payload patterns' digests for checking a transfer in a
 * test. Everything else in the package is internal and may change.
 */
export * from './server/index.js';
export * from './client/index.js';
export {
  FlushTracker,
  FlushTimeoutError,
  PrematureCloseError,
  type TrackedKind,
  type TrackerEvent,
  type WaitOptions,
} from './engine/flush-tracker.js';
export { createPayloadReader, payloadDigest, type PatternName, type PayloadReader, type PayloadSpec } from './payload/patterns.js';

/**
 * loopssh: an embedded SSH server + client pair that never loses output.
 */
export * from './server/index.js';
export * from './client/index.js';
export { FlushTracker, FlushTimeoutError, PrematureCloseError } from './engine/flush-tracker.js';
export { createPayloadReader, payloadDigest, opensslCommand, PATTERNS, type PatternName, type PayloadSpec } from './payload/patterns.js';
export { parseSize, formatSize, SizeError } from './util/size.js';
export { splitCommand, joinCommand } from './openssh/command-line.js';
export { fingerprint, generateKeyPair } from './openssh/key-format.js';
export { ensureKeyDir } from './openssh/key-dir.js';

/**
 * loopssh: an embedded SSH server + client pair that never loses output.
 */
export * from './server/index.js';
export * from './client/index.js';
export { FlushTracker, FlushTimeoutError, PrematureCloseError } from './shared/flush-tracker.js';
export { createPayloadReader, payloadDigest, opensslCommand, PATTERNS, type PatternName, type PayloadSpec } from './shared/payload.js';
export { parseSize, formatSize, SizeError } from './shared/size.js';
export { splitCommand, joinCommand } from './shared/command-line.js';
export { fingerprint, generateKeyPair, ensureKeyDir } from './shared/keys.js';

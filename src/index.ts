/**
 * loopssh: an embedded SSH server + client pair that never loses output.
 */
export * from './server/index.ts';
export * from './client/index.ts';
export { FlushTracker, FlushTimeoutError, PrematureCloseError } from './shared/flush-tracker.ts';
export { createPayloadReader, payloadDigest, opensslCommand, PATTERNS, type PatternName, type PayloadSpec } from './shared/payload.ts';
export { parseSize, formatSize, SizeError } from './shared/size.ts';
export { splitCommand, joinCommand } from './shared/command-line.ts';
export { fingerprint, generateKeyPair, ensureKeyDir } from './shared/keys.ts';

/**
 * loopssh client (`loopssh/client`): `connect()` then `run()`, or `exec()`
 * for one command; where output goes; the errors a run rejects with.
 */
export { connect, exec, type ConnectOptions } from './connect.js';
export { Connection } from './connection.js';
export type { RunOptions, RunResult } from './run-options.js';
export * from './errors.js';
export { MaxBufferError, type InputSource, type OutputTarget } from '../engine/targets.js';
export type { TransferOptions, TransferResult } from './sftp/transfer.js';

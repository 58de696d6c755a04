/**
 * loopssh client (`loopssh/client`): `connect()` then `run()`, or `exec()`
 * for one command; where output goes; the errors a run rejects with.
 */
export { connect, exec, type ConnectOptions } from './connect.js';
export { Connection, type RunOptions, type RunResult } from './connection.js';
export * from './errors.js';
export { MaxBufferError, type InputSource, type OutputTarget } from '../engine/targets.js';

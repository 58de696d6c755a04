/**
 * loopssh client: `connect()` then `run()`, or `exec()` for one command.
 */
export { connect, exec, Connection, type ConnectOptions, type RunOptions, type RunResult } from './connection.js';
export * from './errors.js';
export { MaxBufferError, type InputSource, type OutputTarget } from '../engine/targets.js';
export { knownHostsLine, parseKnownHosts, verifyHostKey } from '../openssh/known-hosts.js';

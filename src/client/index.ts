/**
 * loopssh client: `connect()` then `run()`, or `exec()` for one command.
 */
export { connect, exec, Connection, type ConnectOptions, type RunOptions, type RunResult } from './connection.ts';
export * from './errors.ts';
export { MaxBufferError, type InputSource, type OutputTarget } from './targets.ts';
export { knownHostsLine, parseKnownHosts, verifyHostKey } from './known-hosts.ts';

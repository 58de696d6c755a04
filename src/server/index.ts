/**
 * loopssh server (`loopssh/server`): `startServer()`, what a command handler
 * gets and returns, and the server on a worker thread.
 */
export { startServer } from './server.js';
export type { SessionWindow } from '../ssh2/index.js';
export type { ServerOptions, ServerHandle, ServerRecord, ConnectionRecord, CommandRecord, AuthRecord, StopOptions, RawExecRequest, TransferRecord } from './types.js';
export type { RegisteredFile, RegisteredFiles } from './sftp/tree.js';
export type { StreamedFile } from './sftp/stream-file.js';
export type { DiskMount } from './sftp/disk.js';
export type { ServerLogger } from './log.js';
export { DEFAULT_RECORD_LIMIT } from './record.js';
export { ChannelOutput, ChannelClosedError, ChannelStalledError, type ExitStatus, type OutputStream } from './channel-output.js';
export { UsageError } from '../util/flags.js';
export { DEFAULT_LIMITS, EXIT_SIGNALS, type CommandContext, type CommandHandler, type CommandResult, type MaxStartups, type ServerLimits } from './commands.js';
export { startServerWorker, type WorkerServerHandle, type WorkerServerOptions } from './worker.js';

/**
 * loopssh server: `startServer()` and the command handler types.
 */
export { DEFAULT_KEYS_DIR } from '../openssh/key-dir.js';
export { startServer } from './server.js';
export type { ServerOptions, ServerHandle, ServerRecord, CommandRecord, AuthRecord, StopOptions } from './types.js';
export { ChannelOutput, ChannelClosedError, ChannelStalledError, type ExitStatus, type OutputStream } from './channel-output.js';
export { UsageError } from '../util/flags.js';
export { DEFAULT_LIMITS, EXIT_SIGNALS, type CommandContext, type CommandHandler, type CommandResult, type ServerLimits } from './commands.js';
export { HELP_TEXT, parsePayloadCommand } from './builtins.js';
export { startServerWorker, type WorkerServerHandle, type WorkerServerOptions } from './worker.js';

/**
 * Runs inside the worker thread of startServerWorker().
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../server/log.js';
import { startServer } from './server.js';
import type { WorkerReply, WorkerServerOptions } from './worker.js';

const port = parentPort;
if (!port) throw new Error('worker-entry.ts runs only as a worker thread');
const { logLevel, ...options } = workerData as WorkerServerOptions;

const post = (m: WorkerReply): void => port.postMessage(m);

try {
  const server = await startServer({ ...options, logger: createLogger((logLevel ?? 'warn') as 'warn', 'loopssh-server') });
  let client;
  try {
    client = server.clientOptions();
  } catch {
    client = undefined;
  }
  port.on('message', (m: { type: 'seen' } | { type: 'stop'; graceMs?: number }) => {
    if (m.type === 'seen') post({ type: 'seen', seen: server.seen });
    else {
      void server.stop({ graceMs: m.graceMs }).then(() => {
        post({ type: 'seen', seen: server.seen });
        port.close();
      });
    }
  });
  post({
    type: 'ready',
    host: server.host,
    port: server.port,
    hostKeyFingerprint: server.hostKeyFingerprint,
    hostPublicKey: server.hostPublicKey,
    limits: server.limits,
    client,
    keyFiles: server.keyFiles,
  });
} catch (err) {
  post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  port.close();
}

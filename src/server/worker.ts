/**
 * The server on a worker thread: one process, two cores. Client and server
 * each encrypt or decrypt every byte; on one thread they take turns, on two
 * they overlap. Only serializable options cross the thread boundary, so the
 * built-in commands are served, not registered handlers.
 */
import { Worker } from 'node:worker_threads';
import { emptyRecord } from './record.js';
import type { ClientOptions, ServerHandle, ServerOptions, ServerRecord, StopOptions } from './types.js';

/** Options of {@link startServerWorker}: those of startServer that are plain data. */
export type WorkerServerOptions = Omit<ServerOptions, 'commands' | 'logger' | 'hostKey'> & { hostKey?: string; logLevel?: string };

/** Messages between the thread and its owner. */
export type WorkerReply =
  | { type: 'ready'; host: string; port: number; hostKeyFingerprint: string; hostPublicKey: string; limits: ServerHandle['limits']; client?: ClientOptions; keyFiles?: ServerHandle['keyFiles'] }
  | { type: 'seen'; seen: ServerRecord }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

/** A server running on a worker thread. `seen` is a snapshot: call {@link refreshSeen}. */
export interface WorkerServerHandle extends Omit<ServerHandle, 'sshArgs'> {
  /** Fetches what the server saw so far into `seen`. */
  refreshSeen(): Promise<ServerRecord>;
}

/** Starts the server on a worker thread and resolves once it listens. */
export async function startServerWorker(options: WorkerServerOptions = {}): Promise<WorkerServerHandle> {
  // From source (tsx) the worker needs the same loader; from dist it is plain JS.
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './worker-entry.ts' : './worker-entry.js', import.meta.url);
  const worker = fromSource
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true, workerData: options })
    : new Worker(entry, { workerData: options });
  const replies: ((m: WorkerReply) => void)[] = [];
  worker.on('message', (m: WorkerReply) => replies.shift()?.(m));
  const next = (): Promise<WorkerReply> =>
    new Promise((resolve, reject) => {
      replies.push(resolve);
      worker.once('error', reject);
    });
  const ready = await next();
  if (ready.type !== 'ready') {
    await worker.terminate();
    throw new Error(ready.type === 'error' ? ready.message : 'server worker failed to start');
  }
  let seen: ServerRecord = emptyRecord();
  let stopped: Promise<void> | undefined;
  const handle: WorkerServerHandle = {
    host: ready.host,
    port: ready.port,
    hostKeyFingerprint: ready.hostKeyFingerprint,
    hostPublicKey: ready.hostPublicKey,
    keyFiles: ready.keyFiles,
    limits: ready.limits,
    get seen() {
      return seen;
    },
    clientOptions(overrides = {}) {
      if (!ready.client && overrides.privateKey === undefined) throw new Error('clientOptions(): no client key known; pass { privateKey }');
      return { ...(ready.client as ClientOptions), ...overrides };
    },
    async refreshSeen() {
      const reply = next();
      worker.postMessage({ type: 'seen' });
      const m = await reply;
      if (m.type === 'seen') seen = m.seen;
      return seen;
    },
    stop(stopOptions: StopOptions = {}) {
      stopped ??= (async () => {
        const reply = next();
        worker.postMessage({ type: 'stop', graceMs: stopOptions.graceMs });
        const m = await reply;
        if (m.type === 'seen') seen = m.seen;
        await new Promise((resolve) => worker.once('exit', resolve));
      })();
      return stopped;
    },
    [Symbol.asyncDispose]() {
      return handle.stop();
    },
  };
  return handle;
}

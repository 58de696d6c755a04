/**
 * Test fixtures: a server on port 0 with in-memory keys, and a client
 * connected to it. Nothing is written to disk; stop everything in afterEach.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Connection, type ConnectOptions } from '../../src/client/index.ts';
import { startServer, type ServerHandle, type ServerOptions } from '../../src/server/index.ts';
import { createLogger } from '../../src/server/log.ts';
import { referenceDigest, type ReferencePattern } from './oracle.ts';

/** A running server and what a client needs to reach it. */
export interface Fixture {
  server: ServerHandle;
  connectOptions: ConnectOptions;
  connect(extra?: Partial<ConnectOptions>): Promise<Connection>;
  stop(): Promise<void>;
}

/**
 * Starts a server on port 0 with its ephemeral in-memory keys (or the
 * authorizedKeys given, in which case connect() needs a privateKey).
 */
export async function startFixture(options: ServerOptions = {}): Promise<Fixture> {
  const server = await startServer({ port: 0, logger: createLogger('silent'), ...options });
  const connectOptions: ConnectOptions =
    options.authorizedKeys === undefined
      ? server.clientOptions({ user: 'tester' })
      : { port: server.port, user: 'tester', hostKey: server.hostKeyFingerprint };
  const open: Connection[] = [];
  return {
    server,
    connectOptions,
    async connect(extra = {}) {
      const c = await connect({ ...connectOptions, ...extra });
      open.push(c);
      return c;
    },
    async stop() {
      await Promise.all(open.map((c) => c.close()));
      await server.stop({ graceMs: 1000 });
    },
  };
}

export { sha256 } from './oracle.ts';

/**
 * Expected digest of a payload stream, from the independent reference
 * generator in ./oracle.ts (never src's own payloadDigest).
 */
export function expectedDigest(size: number, pattern: ReferencePattern = 'lines', stream: 'stdout' | 'stderr' = 'stdout', seed = '0'): string {
  return referenceDigest({ size, pattern, seed, stream });
}

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(prefix = 'loopssh-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Test fixtures, one home each: a server on port 0 with in-memory keys and a
 * client connected to it (startFixture: nothing on disk), the same with keys
 * in a folder for the CLI (startCliFixture), expected payload digests, and
 * temporary folders. Stop everything in afterEach/afterAll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Connection, type ConnectOptions } from '../../src/client/index.ts';
import { startServer, type ServerHandle, type ServerOptions } from '../../src/server/index.ts';
import { createLogger } from '../../src/server/log.ts';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
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

const tempDirs = new Set<string>();

/**
 * A fresh temporary folder, removed by the returned function or, for all
 * folders made in this test file, by {@link removeTempDirs} (e.g. in afterAll).
 */
export function tempDir(prefix = 'loopssh-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return {
    dir,
    remove: () => {
      tempDirs.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Removes every folder {@link tempDir} made (and not yet removed) in this file. */
export function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** An in-process server with its keys in a fresh folder, and the CLI flags to reach it. */
export interface CliFixture {
  server: ServerHandle;
  /** Parent temp folder (keys are in `keysDir` below it); a scratch space, removed by stop(). */
  dir: string;
  keysDir: string;
  /** `--port P --host-key FP --keys DIR`: the server pinned by fingerprint. */
  conn: string[];
  /** `--port P --keys DIR`: trusted through the key folder (or a --known-hosts the test adds). */
  cli: string[];
  stop(): Promise<void>;
}

/**
 * Starts `startServer({ port: 0, keysDir })` with keys written to a fresh
 * folder, as the CLI reads them (quiet unless a logger is given).
 */
export async function startCliFixture(options: Omit<ServerOptions, 'port' | 'keysDir'> = {}): Promise<CliFixture> {
  const { dir, remove } = tempDir('loopssh-cli-');
  const keysDir = join(dir, 'keys');
  const server = await startServer({ logger: createLogger('silent'), ...options, port: 0, keysDir });
  return {
    server,
    dir,
    keysDir,
    conn: ['--port', String(server.port), '--host-key', server.hostKeyFingerprint, '--keys', keysDir],
    cli: ['--port', String(server.port), '--keys', keysDir],
    stop: async () => {
      await server.stop({ graceMs: 1000 });
      remove();
    },
  };
}

/**
 * One {@link startCliFixture} for the whole test file: started in beforeAll,
 * stopped (and the file's temp folders removed) in afterAll. The returned
 * object is filled in when beforeAll has run.
 */
export function cliFixturePerFile(): CliFixture {
  const fx = {} as CliFixture;
  beforeAll(async () => {
    Object.assign(fx, await startCliFixture());
  });
  afterAll(async () => {
    await fx.stop?.();
    removeTempDirs();
  });
  return fx;
}

/**
 * A {@link startFixture} server and a temporary folder for every test of the
 * file: made in beforeEach and handed to `use`, stopped and removed in
 * afterEach.
 */
export function fixtureAndFolderPerTest(prefix: string, use: (fixture: Fixture, folder: { dir: string; remove: () => void }) => void): void {
  let fixture: Fixture | undefined;
  let folder: { dir: string; remove: () => void } | undefined;
  beforeEach(async () => {
    fixture = await startFixture();
    folder = tempDir(prefix);
    use(fixture, folder);
  });
  afterEach(async () => {
    await fixture?.stop();
    folder?.remove();
  });
}

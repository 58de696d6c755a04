/**
 * A server and a scratch folder owned by one test: started/made inside the
 * test (each test picks its own server options), stopped/removed in the
 * afterEach this registers, so a failing test leaves nothing running.
 */
import { afterEach } from 'vitest';
import { startServer, type ServerHandle, type ServerOptions } from '../../src/server/index.ts';
import { tempDir } from './fixture.ts';

/** What {@link serverPerTest} hands a test: start the server, make the folder. */
export interface PerTestServer {
  /** `startServer(options)`; the server is stopped (grace 0) after the test. */
  start(options: ServerOptions): Promise<ServerHandle>;
  /** A fresh temporary folder, removed after the test. */
  tempDir(prefix: string): { dir: string; remove: () => void };
}

/** Call at describe level; registers the afterEach that stops what the test started. */
export function serverPerTest(): PerTestServer {
  let server: ServerHandle | undefined;
  let folder: { remove: () => void } | undefined;
  afterEach(async () => {
    await server?.stop({ graceMs: 0 });
    folder?.remove();
    server = undefined;
    folder = undefined;
  });
  return {
    async start(options) {
      server = await startServer(options);
      return server;
    },
    tempDir(prefix) {
      const made = tempDir(prefix);
      folder = made;
      return made;
    },
  };
}

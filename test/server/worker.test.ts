import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.ts';
import { startServerWorker, type WorkerServerHandle } from '../../src/server/worker.ts';
import { expectedDigest } from '../helpers/fixture.ts';

describe('startServerWorker: the server on a second thread', () => {
  let server: WorkerServerHandle | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('serves built-in commands byte-exact and reports what it saw', async () => {
    server = await startServerWorker({ limits: { maxPayloadBytes: 1024 ** 3 } });
    expect(server.port).toBeGreaterThan(0);
    const conn = await connect(server.clientOptions());
    try {
      const r = await conn.run('payload 32MiB --pattern random --stderr 1MiB --exit 4', { hash: true, stdout: 'ignore', stderr: 'ignore' });
      expect([r.exitCode, r.stdoutBytes, r.stderrBytes]).toEqual([4, 32 * 1024 * 1024, 1024 * 1024]);
      expect([r.stdoutSha256, r.stderrSha256]).toEqual([expectedDigest(32 * 1024 * 1024, 'random'), expectedDigest(1024 * 1024, 'random', 'stderr')]);
      const bad = await conn.run('payload 2GiB');
      expect(bad.exitCode).toBe(2);
    } finally {
      await conn.close();
    }
    const seen = await server.refreshSeen();
    expect(seen.commands.map((c) => c.exit)).toEqual([{ code: 4 }, { code: 2 }]);
    expect(seen.authAttempts.at(-1)).toEqual({ user: 'loopssh', method: 'publickey', accepted: true });
  });

  // loopssh issue 13.6: the library names its option, not the CLI's --host flag.
  it('a bad option fails the start with a clear error', async () => {
    await expect(startServerWorker({ host: 'not an address' })).rejects.toThrow(/^host must be an IP address or 'localhost', not 'not an address'$/);
  });
});

/**
 * The SFTP rows: one measured, verified transfer of `size` zero bytes into a
 * file, a get (download) or a put (upload), by `npx loopssh sftp` (the CLI
 * as users run it; also without npx, as `node_modules/.bin/loopssh` runs) or OpenSSH's `sftp -b`, against `loopssh serve` or the
 * bench's own sshd running OpenSSH's sftp-server.
 *
 * Gets read `/payload/zero/0/SIZE` from loopssh and a sparse file of SIZE
 * zeros from sftp-server (the kernel serves its holes as zero pages: as
 * cheap as loopssh's generator); puts send that sparse file and land in a
 * file on the server's disk (loopssh serve's --sftp-dir at /disk, a file in
 * the bench's folder for sftp-server), so every row ends in a real file,
 * checked by size and SHA-256.
 */
import { rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { opensshArgs } from '../../src/openssh/ssh-args.ts';
import { checkZeroFile, clientFigures, runChild, watchServer, type MeasureContext, type Sample } from './measure.ts';
import { ROOT, SFTP_INFO, type SftpPathId } from './options.ts';
import type { Serve } from './setup.ts';

/** The folder `loopssh serve --sftp-dir` serves at /disk (writable), under the bench's temporary folder. */
export const serveDiskDir = (tmp: string): string => join(tmp, 'serve-disk');

/** A sparse file of `size` zero bytes (made once): the source of sftp-server gets and of every put. */
function zeroSource(tmp: string, size: number): string {
  const file = join(tmp, `sftp-zero-${size}.bin`);
  if (statSync(file, { throwIfNoEntry: false })?.size !== size) {
    // A hole: no disk blocks, zeros on every read.
    writeFileSync(file, '');
    truncateSync(file, size);
  }
  return file;
}

/** Where a path's bytes come from and go to, as the client and the bench see them. */
interface Ends {
  /** The remote path the client names. */
  remote: string;
  /** The local path the client names (its output for a get, its input for a put). */
  local: string;
  /** The file the bench checks afterwards. */
  check: string;
}

function endsOf(ctx: MeasureContext, path: SftpPathId, size: number): Ends {
  const { env } = ctx;
  const info = SFTP_INFO[path];
  if (info.verb === 'get') {
    const local = join(env.tmp, `out-${path}.bin`);
    return { remote: info.server === 'serve' ? `/payload/zero/0/${size}` : zeroSource(env.tmp, size), local, check: local };
  }
  const name = `up-${path}.bin`;
  if (info.server === 'serve') {
    return { remote: `/disk/${name}`, local: zeroSource(env.tmp, size), check: join(serveDiskDir(env.tmp), name) };
  }
  return { remote: join(env.tmp, name), local: zeroSource(env.tmp, size), check: join(env.tmp, name) };
}

/** The server's port, user, host key fingerprint and known_hosts file. */
function serverOf(ctx: MeasureContext, path: SftpPathId, serveOverride?: Serve): { port: number; user: string; fp: string; knownHostsFile: string } {
  if (SFTP_INFO[path].server === 'serve') {
    const srv = serveOverride ?? (ctx.env.serve as Serve);
    return { port: srv.port, user: 'bench', fp: srv.fingerprint, knownHostsFile: srv.knownHostsFile };
  }
  const s = ctx.env.sshd;
  if (!s) throw new Error('the bench has no sshd');
  return { port: s.sshd.port, user: s.sshd.user, fp: s.fingerprint, knownHostsFile: s.knownHostsFile };
}

/**
 * The client's argv for `path`. With `nodeFlags` (the profiler), the
 * checkout's launcher runs under node directly instead of through npx.
 */
export function sftpArgv(ctx: MeasureContext, path: SftpPathId, ends: Ends, nodeFlags: string[] = [], serveOverride?: Serve): string[] {
  const { env, options } = ctx;
  const info = SFTP_INFO[path];
  const server = serverOf(ctx, path, serveOverride);
  if (info.client !== 'sftp') {
    // 'loopssh-bin': the launcher run by its shebang, as node_modules/.bin/loopssh
    // runs from an npm script or a PATH entry; 'loopssh': through npx, which
    // adds npm's own start-up (~0.4 s and ~0.3 CPU-s here) to every transfer.
    const bin = join(ROOT, 'bin', 'loopssh.js');
    const launcher = nodeFlags.length ? [process.execPath, ...nodeFlags, bin] : info.client === 'loopssh-bin' ? [bin] : ['npx', '--no-install', 'loopssh'];
    const what = info.verb === 'get' ? ['get', ends.remote, '-o', ends.local] : ['put', ends.local, ends.remote];
    // prettier-ignore
    return [...launcher, 'sftp', ...what, '-q',
      '--port', String(server.port), '--user', server.user, '--identity', env.keys.clientKeyPath, '--host-key', server.fp, '--cipher', options.cipher];
  }
  // OpenSSH sftp takes ssh's options, but -P for the port and user@host.
  const ssh = opensshArgs({ host: '127.0.0.1', port: server.port, user: server.user, identityFile: env.keys.clientKeyPath, knownHostsFile: server.knownHostsFile }, ['-c', options.cipher]);
  const at = ssh.indexOf('-p');
  const rest = ssh.filter((_, i) => i !== at && i !== at + 1 && i < ssh.length - 3);
  const batch = join(env.tmp, `batch-${path}`);
  writeFileSync(batch, `${info.verb} ${ends[info.verb === 'get' ? 'remote' : 'local']} ${ends[info.verb === 'get' ? 'local' : 'remote']}\n`);
  return [ctx.sftp as string, '-P', String(server.port), ...rest, '-b', batch, `${server.user}@127.0.0.1`];
}

/** One SFTP transfer on `path`, measured over the whole client process and verified (exit status, size and SHA-256 of the file it made). */
export async function sftpTransfer(ctx: MeasureContext, path: SftpPathId, size: number): Promise<Sample> {
  const info = SFTP_INFO[path];
  const ends = endsOf(ctx, path, size);
  rmSync(ends.check, { force: true });
  const argv = sftpArgv(ctx, path, ends);
  const server = watchServer(ctx, info.server, ctx.env.serve);
  const outcome = await runChild(ctx.env, argv, {});
  const sample: Sample = { ok: true, verify: 'exit status 0, size + SHA-256 of the file', wallMs: outcome.wallMs };
  const problems: string[] = [];
  Object.assign(sample, await server.done(problems));
  clientFigures(outcome, sample, problems);
  await checkZeroFile(ends.check, size, problems);
  if (problems.length > 0) {
    sample.ok = false;
    const said = `${outcome.stderr.trim()} ${outcome.stdout.trim()}`.trim();
    sample.why = `${problems.join('; ')}${said ? ` | output: ${said.slice(-400)}` : ''}`;
  }
  return sample;
}

/** The argv and the ends of one profiled SFTP client run (see profile.ts). */
export function sftpProfileArgv(ctx: MeasureContext, path: SftpPathId, size: number, nodeFlags: string[], serveOverride?: Serve): { argv: string[]; check: string } {
  const ends = endsOf(ctx, path, size);
  return { argv: sftpArgv(ctx, path, ends, nodeFlags, serveOverride), check: ends.check };
}

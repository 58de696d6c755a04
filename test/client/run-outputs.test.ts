/**
 * What a run leaves behind: errors that carry the collected output, files
 * that are committed only when complete, with the right mode, and targets
 * that cannot be turned onto another file.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelLostError, ExitStatusError, RunAbortedError, TargetError } from '../../src/client/index.ts';
import type { CommandHandler } from '../../src/server/index.ts';
import { sha256, startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';

const KiB = 1024;
/** The bytes the test commands send: generated here, independent of the payload generator. */
const OUT = randomBytes(300 * KiB);
const ERR = randomBytes(50 * KiB);

let gate: { open: () => void; wait: Promise<void> };
function newGate(): void {
  let open = (): void => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  gate = { open, wait };
}
let started: () => void = () => {};

const commands: Record<string, CommandHandler> = {
  // emit [CODE|SIGNAL]: OUT on stdout, ERR on stderr, then exit CODE or die by SIGNAL.
  emit: async (ctx) => {
    await ctx.output.write('stdout', OUT);
    await ctx.output.write('stderr', ERR);
    const how = ctx.argv[1] ?? '0';
    return /^\d+$/.test(how) ? Number(how) : { signal: how as 'KILL' };
  },
  'emit-drop': async (ctx) => {
    await ctx.output.write('stdout', OUT);
    ctx.drop();
  },
  // hold: OUT and ERR, then wait for the test to open the gate, then exit 0.
  hold: async (ctx) => {
    await ctx.output.write('stdout', OUT);
    await ctx.output.write('stderr', ERR);
    started();
    await gate.wait;
    return 0;
  },
};

let fx: Fixture;
let tmp: ReturnType<typeof tempDir>;
beforeEach(async () => {
  fx = await startFixture({ commands });
  tmp = tempDir();
  newGate();
});
afterEach(async () => {
  gate.open();
  await fx.stop();
  tmp.remove();
});

/** Runs `hold` into the given targets; `during` runs while the command waits at the gate. */
async function holdRun(stdout: string, stderr: string, during: () => void): Promise<unknown> {
  const conn = await fx.connect();
  const running = new Promise<void>((resolve) => (started = resolve));
  const result = conn.run('hold', { stdout, stderr }).catch((e: unknown) => e);
  await running;
  during();
  gate.open();
  return result;
}

// loopssh issue 13, point 3: RunError subclasses keep the output collected as buffers.
describe('errors carry the buffered output (loopssh issue 13)', () => {
  it('ExitStatusError (check: true) carries stdout and stderr byte for byte', async () => {
    const conn = await fx.connect();
    const err = await conn.run('emit 3', { check: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExitStatusError);
    const e = err as ExitStatusError;
    expect([e.exitCode, e.stdout?.length, e.stderr?.length]).toEqual([3, OUT.length, ERR.length]);
    expect([sha256(e.stdout ?? Buffer.alloc(0)), sha256(e.stderr ?? Buffer.alloc(0))]).toEqual([sha256(OUT), sha256(ERR)]);
  });

  it('ChannelLostError carries what arrived; a file target carries nothing', async () => {
    const conn = await fx.connect();
    const err = (await conn.run('emit-drop').catch((e: unknown) => e)) as ChannelLostError;
    expect(err).toBeInstanceOf(ChannelLostError);
    expect([err.stdoutBytes, err.stdout?.length, sha256(err.stdout ?? Buffer.alloc(0))]).toEqual([OUT.length, OUT.length, sha256(OUT)]);
    const toFile = (await conn.run('emit-drop', { stdout: join(tmp.dir, 'f') }).catch((e: unknown) => e)) as ChannelLostError;
    expect(toFile).toBeInstanceOf(ChannelLostError);
    expect(toFile.stdout).toBeUndefined();
  });

  it('maxBuffer exceeded: the TargetError carries exactly the first maxBuffer bytes', async () => {
    const conn = await fx.connect();
    const limit = 100 * KiB + 3;
    const err = (await conn.run('emit 0', { maxBuffer: limit }).catch((e: unknown) => e)) as TargetError;
    expect(err).toBeInstanceOf(TargetError);
    expect(err.code).toBe('EMAXBUFFER');
    expect(err.stdout?.length).toBe(limit);
    expect(sha256(err.stdout ?? Buffer.alloc(0))).toBe(sha256(OUT.subarray(0, limit)));
  });

  it('RunAbortedError carries the output that arrived before the abort', async () => {
    const conn = await fx.connect();
    const controller = new AbortController();
    // Abort once everything the command sent has arrived (it then waits at the gate).
    const onProgress = (f: { stdoutBytes: number; stderrBytes: number }): void => {
      if (f.stdoutBytes === OUT.length && f.stderrBytes === ERR.length) controller.abort();
    };
    const result = conn.run('hold', { signal: controller.signal, onProgress, progressIntervalMs: 10 }).catch((e: unknown) => e);
    const err = (await result) as RunAbortedError;
    expect(err).toBeInstanceOf(RunAbortedError);
    expect([err.stdout?.length, err.stderr?.length]).toEqual([OUT.length, ERR.length]);
    expect([sha256(err.stdout ?? Buffer.alloc(0)), sha256(err.stderr ?? Buffer.alloc(0))]).toEqual([sha256(OUT), sha256(ERR)]);
  });
});

// loopssh issue 10, point 4: a command killed by a signal did not finish its output.
describe('a remote command killed by a signal (loopssh issue 10)', () => {
  it('does not commit the file: no rename into place, no temporary left', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'out.bin');
    const r = await conn.run('emit KILL', { stdout: path, stderr: join(tmp.dir, 'err.bin') });
    expect([r.signal, r.exitCode, r.stdoutBytes, r.keptPartial]).toEqual(['KILL', null, OUT.length, []]);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('leaves an existing file as it was', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'out.bin');
    writeFileSync(path, 'previous');
    await conn.run('emit TERM', { stdout: path });
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(tmp.dir)).toEqual(['out.bin']);
  });

  it('keepPartial keeps the incomplete output as FILE.partial, byte for byte', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'out.bin');
    const r = await conn.run('emit KILL', { stdout: path, stderr: 'ignore', keepPartial: true });
    expect(r.keptPartial).toEqual([`${path}.partial`]);
    expect(readdirSync(tmp.dir)).toEqual(['out.bin.partial']);
    expect(sha256(readFileSync(`${path}.partial`))).toBe(sha256(OUT));
  });

  it('keepPartial also keeps the output of a run that failed (channel lost) as FILE.partial; FILE never appears', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'lost.bin');
    const err = await conn.run('emit-drop', { stdout: path, keepPartial: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelLostError);
    expect(readdirSync(tmp.dir)).toEqual(['lost.bin.partial']);
    expect(sha256(readFileSync(`${path}.partial`))).toBe(sha256(OUT));
  });

  it('a non-zero exit status still commits the file, as ssh would', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'out.bin');
    const r = await conn.run('emit 7', { stdout: path });
    expect(r.exitCode).toBe(7);
    expect(sha256(readFileSync(path))).toBe(sha256(OUT));
    expect(readdirSync(tmp.dir)).toEqual(['out.bin']);
  });
});

// loopssh issue 15, point 6: output files.
describe('output files (loopssh issue 15)', () => {
  it('(a) the same file for stdout and stderr is refused before the command runs: same path, resolved, or same inode', async () => {
    const conn = await fx.connect();
    const a = join(tmp.dir, 'a.bin');
    mkdirSync(join(tmp.dir, 'sub'));
    for (const [stdout, stderr] of [
      [a, a],
      [a, join(tmp.dir, 'sub', '..', 'a.bin')],
    ]) {
      const err = await conn.run('emit 0', { stdout, stderr }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TargetError);
      expect((err as TargetError).message).toMatch(/same file/);
    }
    writeFileSync(a, 'old');
    linkSync(a, join(tmp.dir, 'hard.bin'));
    const err = await conn.run('emit 0', { stdout: a, stderr: join(tmp.dir, 'hard.bin') }).catch((e: unknown) => e);
    expect((err as TargetError).message).toMatch(/same file/);
    expect(fx.server.seen.commands).toEqual([]);
    expect(readFileSync(a, 'utf8')).toBe('old');
    expect(readdirSync(tmp.dir).sort()).toEqual(['a.bin', 'hard.bin', 'sub']);
    // A character device may take both.
    const r = await conn.run('emit 0', { stdout: '/dev/null', stderr: '/dev/null' });
    expect([r.stdoutBytes, r.stderrBytes]).toEqual([OUT.length, ERR.length]);
  });

  it('(b) the temporary file is 0600 while written; an existing 0600 target stays 0600, a new file gets 0666 less the umask', async () => {
    const path = join(tmp.dir, 'secret.bin');
    writeFileSync(path, 'old');
    chmodSync(path, 0o600);
    const fresh = join(tmp.dir, 'fresh.bin');
    let tempModes: number[] = [];
    const r = await holdRun(path, fresh, () => {
      tempModes = readdirSync(tmp.dir)
        .filter((n) => n.endsWith('.loopssh-partial'))
        .map((n) => statSync(join(tmp.dir, n)).mode & 0o777);
    });
    expect(r).toMatchObject({ exitCode: 0 });
    expect(tempModes).toEqual([0o600, 0o600]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const umask = process.umask();
    expect(statSync(fresh).mode & 0o777).toBe(0o666 & ~umask);
    expect(sha256(readFileSync(path))).toBe(sha256(OUT));
  });

  /** Runs `hold` into out.bin and err.bin; `blocked` becomes a non-empty folder meanwhile, so its rename fails. */
  async function blockedRename(blocked: 'out.bin' | 'err.bin'): Promise<{ e: TargetError; out: string; err: string }> {
    const [out, err] = [join(tmp.dir, 'out.bin'), join(tmp.dir, 'err.bin')];
    const e = (await holdRun(out, err, () => {
      mkdirSync(join(tmp.dir, blocked));
      writeFileSync(join(tmp.dir, blocked, 'x'), 'x');
    })) as TargetError;
    expect(e).toBeInstanceOf(TargetError);
    return { e, out, err };
  }

  it('(c) a failed rename removes the temporary files and throws a TargetError saying which file was already in place', async () => {
    const { e, out, err } = await blockedRename('err.bin');
    expect(e.target).toBe(`stderr file ${err}`);
    expect(e.message).toContain(`stdout file ${out} already in place`);
    expect(readdirSync(tmp.dir).sort()).toEqual(['err.bin', 'out.bin']);
    expect(sha256(readFileSync(out))).toBe(sha256(OUT));
  });

  it('(c) when the first rename fails, nothing is put in place and nothing is left', async () => {
    const { e, out } = await blockedRename('out.bin');
    expect(e.message).toMatch(/nothing was put in place/);
    expect(readdirSync(tmp.dir)).toEqual(['out.bin']);
    expect(lstatSync(out).isDirectory()).toBe(true);
  });

  // Files owned by another user can only be made as root.
  const asRoot = process.getuid?.() === 0;
  const NOBODY = 65534;

  it.skipIf(!asRoot)('(d) a symbolic link another user planted is not followed, even to a FIFO', async () => {
    const conn = await fx.connect();
    const fifo = join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const link = join(tmp.dir, 'link');
    symlinkSync(fifo, link);
    lchownSync(link, NOBODY, NOBODY);
    const err = await conn.run('emit 0', { stdout: link }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetError);
    expect((err as TargetError).message).toMatch(/symbolic link owned by another user/);
    expect(fx.server.seen.commands).toEqual([]);
  }, 10_000);

  it.skipIf(!asRoot)('(d) a FIFO another user planted is opened, found foreign and not written', async () => {
    const conn = await fx.connect();
    const fifo = join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    chownSync(fifo, NOBODY, NOBODY);
    // A reader, as the planting user would have: the open must not block.
    const reader = import('node:fs').then(({ promises }) => promises.readFile(fifo));
    const err = await conn.run('emit 0', { stdout: fifo }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetError);
    expect((err as TargetError).message).toMatch(/owned by another user/);
    expect((await reader).length).toBe(0);
    expect(fx.server.seen.commands).toEqual([]);
  }, 10_000);

  it('(d) a link to a regular file is opened without O_TRUNC, found regular and refused: the file and the link stay as they were', async () => {
    const conn = await fx.connect();
    const victim = join(tmp.dir, 'victim.txt');
    writeFileSync(victim, 'keep me');
    const link = join(tmp.dir, 'link');
    symlinkSync(victim, link);
    const err = await conn.run('emit 0', { stdout: link }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetError);
    expect((err as TargetError).message).toMatch(/neither a regular file, a FIFO nor a character device/);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fx.server.seen.commands).toEqual([]);
  });

  // Not a regression test: a FIFO must still work after the change.
  it('(d) a FIFO target is written in place, every byte', async () => {
    const conn = await fx.connect();
    const fifo = join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = import('node:fs').then(({ promises }) => promises.readFile(fifo));
    const r = await conn.run('emit 0', { stdout: fifo });
    const got = await reader;
    expect([r.stdoutBytes, got.length, sha256(got)]).toEqual([OUT.length, OUT.length, sha256(OUT)]);
    expect(existsSync(fifo) && lstatSync(fifo).isFIFO()).toBe(true);
  });
});

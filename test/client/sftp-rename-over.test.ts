/**
 * loopssh issue 11 (review finding after the atomic upload landed): the SFTP
 * v3 fallback removed the old target after ANY refused RENAME, and a second
 * failure then lost both the old file and the new upload. Now the target is
 * removed only for FX_FAILURE on an existing target, and the caller is told
 * when the old file is already gone (it then keeps the complete temp file).
 */
import { describe, expect, it } from 'vitest';
import { renameOver, type RenameRequests } from '../../src/client/sftp/rename-over.ts';

/** A scripted server: each RENAME answer in turn (a status code or ok); records the requests in order. */
function server(renameAnswers: (number | 'ok')[], opts: { posix?: 'ok' | number; exists?: boolean; removeCode?: number } = {}): { requests: RenameRequests; log: string[] } {
  const log: string[] = [];
  const fail = (code: number): Error => Object.assign(new Error(`status ${code}`), { code });
  return {
    log,
    requests: {
      posixRename: async (from, to) => {
        log.push(`posix ${from} ${to}`);
        if (opts.posix === undefined) return 'unadvertised';
        return opts.posix === 'ok' ? undefined : fail(opts.posix);
      },
      rename: async (from, to) => {
        log.push(`rename ${from} ${to}`);
        const answer = renameAnswers.shift() ?? 'ok';
        return answer === 'ok' ? undefined : fail(answer);
      },
      exists: async (path) => {
        log.push(`stat ${path}`);
        return opts.exists ?? true;
      },
      remove: async (path) => {
        log.push(`remove ${path}`);
        return opts.removeCode === undefined ? undefined : fail(opts.removeCode);
      },
    },
  };
}

describe('renameOver', () => {
  it('posix-rename when advertised: one request, its answer is the outcome', async () => {
    const s = server([], { posix: 'ok' });
    expect(await renameOver(s.requests, 't', 'x')).toEqual({ error: undefined, targetRemoved: false });
    expect(s.log).toEqual(['posix t x']);
  });

  it('v3 RENAME onto a new name: one rename, nothing removed', async () => {
    const s = server(['ok']);
    expect(await renameOver(s.requests, 't', 'x')).toEqual({ targetRemoved: false });
    expect(s.log).toEqual(['posix t x', 'rename t x']);
  });

  it('v3 RENAME refused with FX_FAILURE over an existing target: remove it, rename again', async () => {
    const s = server([4, 'ok']);
    expect(await renameOver(s.requests, 't', 'x')).toEqual({ error: undefined, targetRemoved: true });
    expect(s.log).toEqual(['posix t x', 'rename t x', 'stat x', 'remove x', 'rename t x']);
  });

  it.each([3, 8])('RENAME refused with status %i: the old target is never removed', async (code) => {
    const s = server([code]);
    const out = await renameOver(s.requests, 't', 'x');
    expect([(out.error as { code?: number } | undefined)?.code, out.targetRemoved]).toEqual([code, false]);
    expect(s.log).toEqual(['posix t x', 'rename t x']);
  });

  it('FX_FAILURE but no target there: nothing removed', async () => {
    const s = server([4], { exists: false });
    const out = await renameOver(s.requests, 't', 'x');
    expect([out.error?.message, out.targetRemoved]).toEqual(['status 4', false]);
    expect(s.log).not.toContain('remove x');
  });

  it('second RENAME fails after the remove: reported with targetRemoved, so the caller keeps the complete temp file', async () => {
    const s = server([4, 3]);
    const out = await renameOver(s.requests, 't', 'x');
    expect([out.error?.message, out.targetRemoved]).toEqual(['status 3', true]);
  });

  it('the remove itself refused: the old target stays, no second rename', async () => {
    const s = server([4], { removeCode: 3 });
    const out = await renameOver(s.requests, 't', 'x');
    expect([out.error?.message, out.targetRemoved]).toEqual(['status 3', false]);
    expect(s.log).toEqual(['posix t x', 'rename t x', 'stat x', 'remove x']);
  });
});

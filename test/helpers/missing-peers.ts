/**
 * One line at the end of `npm test` naming the peers that were missing and
 * the command that installs them, so a newcomer does not read a skip as a
 * pass (loopssh issue 9). Test workers append to a file named by
 * LOOPSSH_MISSING_PEERS_FILE (set by vitest.config.ts); the reporter, in the
 * main process, reads it after the run.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import type { Reporter } from 'vitest/node';

/** The command that installs every peer the tests use. */
export const INSTALL_PEERS_COMMAND = 'npm run peers';

/** Called by peers.ts when a peer is missing and its tests skip. */
export function recordMissingPeer(name: string, hint: string): void {
  const file = process.env.LOOPSSH_MISSING_PEERS_FILE;
  if (file) appendFileSync(file, `${name}\t${hint}\n`);
}

/** The closing line for the recorded peers, or undefined when none was missing. */
export function missingPeersLine(recorded: string): string | undefined {
  const peers = new Map<string, string>();
  for (const line of recorded.split('\n')) {
    const [name, hint] = line.split('\t');
    if (name && hint) peers.set(name, hint);
  }
  if (peers.size === 0) return undefined;
  const list = [...peers].map(([name, hint]) => `${name} (${hint})`).join(', ');
  return `loopssh: SKIPPED the tests that need ${list}: those peers are not installed; \`${INSTALL_PEERS_COMMAND}\` installs them (Debian/Ubuntu, uses apt-get)`;
}

/** Vitest reporter printing {@link missingPeersLine} after the run. */
export default class MissingPeersReporter implements Reporter {
  onTestRunEnd(): void {
    const file = process.env.LOOPSSH_MISSING_PEERS_FILE;
    if (!file || !existsSync(file)) return;
    const line = missingPeersLine(readFileSync(file, 'utf8'));
    rmSync(file, { force: true });
    if (line) process.stdout.write(`\n${line}\n`);
  }
}

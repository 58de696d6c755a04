/**
 * `audit(options)`: start a loopssh server on 127.0.0.1 with ephemeral keys,
 * run a client template once per scenario and run, judge every run.
 * The CLI (`loopssh audit`) is a thin layer over this; test suites call it
 * to assert "my client passes the audit".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../server/server.js';
import { UsageError } from '../util/flags.js';
import { AUDIT_COMMANDS, auditStdinCommand, takeOverAuditExec } from './behaviours.js';
import { fillTemplate, PLACEHOLDERS, runClient, type Placeholders, type RunOutcome } from './client-run.js';
import { StreamJudge, worse, type Verdict } from './judge.js';
import { DEFAULT_PACE, makeFifo, READERS, type ReaderName, type ReaderPace } from './readers.js';
import { createServerLog } from './server-log.js';
import { SCENARIOS, type ExpectedExit, type Scenario } from './scenarios.js';

/** Options of {@link audit}. */
export interface AuditOptions {
  /** The client command, one word per element, with `{placeholders}` (see PLACEHOLDERS). */
  client: readonly string[];
  /** Run only these scenarios (by name, optional ones included). Default: every non-optional one. */
  only?: readonly string[];
  /** Add the optional 1 GiB scenario to the default set (`tiny-window` and the SFTP ones only by name or `sftp`). */
  huge?: boolean;
  /** Run the SFTP scenarios (the template downloads `{path}` to `{out}`) instead of the exec ones. */
  sftp?: boolean;
  /** Runs per scenario (losses can be intermittent). Default 1. */
  runs?: number;
  /** Read stdout with this reader in every scenario instead of each scenario's own. */
  reader?: ReaderName;
  /** Reader pace (slow rate, stall length). */
  pace?: Partial<ReaderPace>;
  /** Time limit per run in ms, instead of each scenario's own. */
  timeoutMs?: number;
  /** User name given as `{user}`. Default `audit`. */
  user?: string;
  /** Called after every run, e.g. to print progress. */
  onRun?: (scenario: Scenario, run: number, outcome: RunOutcome) => void;
}

/** One scenario's result over all its runs. */
export interface ScenarioResult {
  name: string;
  does: string;
  command: string;
  /** The exit status a correct client reports. */
  exit: ExpectedExit;
  /** A reported failure (exit ≠ 0, no file or an exact prefix) is correct too (SFTP early EOF, lying stat). */
  failureOk?: boolean;
  /** The worst verdict over the runs. */
  verdict: Verdict;
  /** Runs judged exact. */
  exact: number;
  runs: RunOutcome[];
  passed: boolean;
}

/** What {@link audit} returns (and `--json` prints). */
export interface AuditReport {
  /** ISO time the audit started. */
  date: string;
  client: string[];
  results: ScenarioResult[];
  /** True when every run of every scenario was exact. */
  passed: boolean;
}

/** Picks the scenarios to run; an unknown name is an error naming the known ones. */
export function selectScenarios(only: readonly string[] | undefined, huge = false, sftp = false): Scenario[] {
  if (sftp && (!only || only.length === 0)) return SCENARIOS.filter((s) => s.sftpPath !== undefined);
  // --huge adds the big ones, not those needing a template that forwards stdin.
  if (!only || only.length === 0) return SCENARIOS.filter((s) => s.sftpPath === undefined && (!s.optional || (huge && !s.stdin)));
  return only.map((name) => {
    const s = SCENARIOS.find((x) => x.name === name);
    if (!s) throw new UsageError(`unknown scenario '${name}' (known: ${SCENARIOS.map((x) => x.name).join(', ')})`);
    return s;
  });
}

/**
 * Runs the audit and resolves to its report. Throws (before running any
 * client) on bad options; a client that fails to start is judged per run.
 *
 * @example
 * ```ts
 * const report = await audit({ client: ['ssh', '-p', '{port}', '-i', '{identity}', ..., '{command}'] });
 * expect(report.passed).toBe(true);
 * ```
 */
export async function audit(options: AuditOptions): Promise<AuditReport> {
  if (options.client.length === 0) throw new UsageError('audit needs a client template (e.g. ssh -p {port} ... {command})');
  // Unknown placeholders fail here, before a server starts.
  fillTemplate(options.client, Object.fromEntries(PLACEHOLDERS.map((p) => [p, ''])) as Placeholders);
  if (options.reader !== undefined && !READERS.includes(options.reader)) {
    throw new UsageError(`unknown reader '${options.reader}' (expected ${READERS.join(', ')})`);
  }
  const runs = options.runs ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`runs must be a whole number ≥ 1, not ${runs}`);
  const scenarios = selectScenarios(options.only, options.huge, options.sftp);
  const has = (p: string): boolean => options.client.some((w) => w.includes(p));
  if (scenarios.some((s) => s.sftpPath === undefined) && !has('{command}')) throw new UsageError('the client template has no {command}: the client would not run the scenarios');
  if (scenarios.some((s) => s.sftpPath !== undefined) && !(has('{path}') && has('{out}'))) {
    throw new UsageError('the SFTP scenarios need a template that downloads {path} to {out} (e.g. loopssh sftp get {path} -o {out} ...)');
  }
  const pace: ReaderPace = { ...DEFAULT_PACE, ...options.pace };
  const writesOut = options.client.some((w) => w.includes('{out}'));
  const date = new Date().toISOString();

  const dir = mkdtempSync(join(tmpdir(), 'loopssh-audit-'));
  const serverLog = createServerLog();
  // Runs are one at a time: the scenario running decides the session window and receives stdin.
  let running: Scenario | undefined;
  let stdinReceived: StreamJudge | undefined;
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    logger: serverLog.logger,
    commands: { ...AUDIT_COMMANDS, 'audit-stdin': auditStdinCommand(() => stdinReceived) },
    takeOverExec: takeOverAuditExec,
    sessionWindow: () => running?.window,
  });
  try {
    const creds = server.clientOptions();
    const identity = join(dir, 'identity');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(identity, creds.privateKey, { mode: 0o600 });
    writeFileSync(knownHosts, creds.knownHosts, { mode: 0o600 });
    let fifos = 0;
    const out = join(dir, 'out.bin');
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) {
      const argv = fillTemplate(options.client, {
        host: server.host,
        port: String(server.port),
        user: options.user ?? 'audit',
        identity,
        known_hosts: knownHosts,
        command: scenario.command,
        path: scenario.sftpPath ?? '',
        out,
      });
      const outcomes: RunOutcome[] = [];
      for (let i = 1; i <= runs; i++) {
        serverLog.take();
        // A fresh FIFO per run: something a killed client left behind that
        // still holds an old one cannot write into the next run.
        const fifo = join(dir, `stdout-${++fifos}.fifo`);
        if (!writesOut) makeFifo(fifo);
        running = scenario;
        stdinReceived = scenario.stdin ? new StreamJudge(scenario.stdin) : undefined;
        const stdinFifo = join(dir, `stdin-${fifos}.fifo`);
        if (stdinReceived) makeFifo(stdinFifo);
        const outcome = await runClient({
          argv,
          scenario,
          reader: options.reader ?? scenario.reader,
          pace,
          fifo,
          outFile: writesOut ? out : undefined,
          stdin: stdinReceived ? { fifo: stdinFifo, received: stdinReceived } : undefined,
          timeoutMs: options.timeoutMs ?? scenario.timeoutMs,
        });
        running = undefined;
        // pino writes its destination asynchronously: let it deliver first.
        await new Promise((resolve) => setImmediate(resolve));
        outcome.serverLog = serverLog.take();
        outcomes.push(outcome);
        options.onRun?.(scenario, i, outcome);
      }
      const verdict = outcomes.map((o) => o.verdict).reduce(worse);
      const exact = outcomes.filter((o) => o.verdict === 'exact').length;
      results.push({ name: scenario.name, does: scenario.does, command: scenario.command, exit: scenario.exit, failureOk: scenario.failureOk, verdict, exact, runs: outcomes, passed: exact === runs });
    }
    return { date, client: [...options.client], results, passed: results.every((r) => r.passed) };
  } finally {
    await server.stop({ graceMs: 1000 });
    rmSync(dir, { recursive: true, force: true });
  }
}

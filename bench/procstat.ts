/**
 * Per-process CPU and peak-RSS figures for the transfer bench, from
 * `/usr/bin/time` (exact, for processes the bench starts per transfer) and
 * from /proc (for the long-running servers: loopssh serve, sshd).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** GNU time, if installed: exact peak RSS (%M) and CPU (%U, %S) of a child. */
export const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** `-f` format for {@link GNU_TIME}: wall s, user s, sys s, max RSS KiB, exit status. */
export const TIME_FORMAT = '%e %U %S %M %x';

/** What GNU time reports for one process. */
export interface TimeFigures {
  wallS: number;
  cpuS: number;
  maxRssKiB: number;
  exitStatus: number;
}

/** Parses the file written by `time -f TIME_FORMAT -o FILE` (its last line; a killed child adds a line first). */
export function parseTimeFile(text: string): TimeFigures | undefined {
  const line = text.trim().split('\n').pop() ?? '';
  const parts = line.trim().split(/\s+/).map(Number);
  if (parts.length !== 5 || parts.some((n) => !Number.isFinite(n))) return undefined;
  const [wallS, user, sys, maxRssKiB, exitStatus] = parts as [number, number, number, number, number];
  return { wallS, cpuS: user + sys, maxRssKiB, exitStatus };
}

let clockTicks: number | undefined;

/** Clock ticks per second (USER_HZ) for /proc/PID/stat times. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** The fields of /proc/PID/stat the bench uses; times in seconds. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime of the process itself. */
  cpuS: number;
  /** cutime + cstime: CPU of descendants it has waited for. */
  childrenCpuS: number;
}

/** Reads /proc/PID/stat, or undefined if the process is gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3]);
  const hz = ticksPerSecond();
  return { pid, ppid: field(4), cpuS: (field(14) + field(15)) / hz, childrenCpuS: (field(16) + field(17)) / hz };
}

/** VmHWM (peak resident set) of a process in KiB, or undefined. */
export function readHwmKiB(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets a process's VmHWM to its current RSS (`echo 5 > clear_refs`); false if not allowed. */
export function resetHwm(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Every live descendant of `root` (not `root` itself). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(st.pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  for (let i = -1; i < out.length; i++) {
    const pid = i < 0 ? root : (out[i] as number);
    out.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * Samples the peak RSS of a process tree while a transfer runs (for sshd,
 * whose per-connection processes come and go). VmHWM is itself a peak, so a
 * sample every `intervalMs` misses only a process's last moments.
 */
export class TreeSampler {
  #timer: NodeJS.Timeout | undefined;
  #maxKiB = 0;
  readonly #perPid = new Map<number, number>();

  constructor(
    readonly root: number,
    readonly includeRoot = false,
    readonly intervalMs = 100,
  ) {}

  start(): this {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), this.intervalMs);
    return this;
  }

  #sample(): void {
    const pids = descendants(this.root);
    if (this.includeRoot) pids.push(this.root);
    for (const pid of pids) {
      const kib = readHwmKiB(pid);
      if (kib === undefined) continue;
      this.#perPid.set(pid, Math.max(this.#perPid.get(pid) ?? 0, kib));
      this.#maxKiB = Math.max(this.#maxKiB, kib);
    }
  }

  /** Stops sampling; the largest VmHWM of any one process seen, in KiB (0 if none). */
  stop(): number {
    this.#sample();
    clearInterval(this.#timer);
    return this.#maxKiB;
  }
}

/** Resolves once `root` has no descendants left (sshd reaps its per-connection children), or after `timeoutMs`. */
export async function waitNoDescendants(root: number, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (descendants(root).length === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

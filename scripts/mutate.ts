/**
 * `npm run mutate`: the mutations of loopssh issue 17, each applied to src/,
 * checked against the test files whose names claim that behaviour, then
 * reverted. Prints caught/survived per mutation and file; exits 1 if any
 * mutation survived or could not be applied. Not part of `npm test`: it runs
 * heavy test files once per mutation (one at a time, CPU bound).
 *
 *   npm run mutate                  every mutation
 *   npm run mutate -- naive exit    only mutations whose name contains a word given
 *   npm run mutate -- --list        show the mutations and where they apply
 *   npm run mutate -- --baseline    first run the named files unmutated (all must pass)
 *
 * Each mutation finds its code by a pattern, searching every .ts file under
 * src/ (files move; patterns say what the code does). No match, or matches in
 * more than one file, stops the run with "mutation X: pattern not found" /
 * "... matches in several files": a moved or rewritten source needs the
 * pattern updated, never a silent skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Mutation {
  name: string;
  /** What the mutation breaks, in the issue's words. */
  what: string;
  /** Finds the code to change (first match in the one file that has it). */
  find: RegExp;
  /** The replacement (String.replace semantics, `$1` etc.). */
  replace: string;
  /** Test files (from the repo root) that must catch it. */
  tests: string[];
}

const MUTATIONS: Mutation[] = [
  {
    name: 'naive-writes-nothing',
    what: 'naive mode writes nothing to its stdout target',
    // The naive pipeline's stdout write: `outSink.stream.write(c);`
    find: /\b(out\w*)\.stream\.write\((\w+)\);/,
    replace: 'void $2;',
    tests: ['test/cli/asyncssh-629.test.ts', 'test/cli/get.test.ts'],
  },
  {
    name: 'max-auth-tries-1',
    what: 'maxAuthTries default 6 → 1',
    find: /\bmaxAuthTries:\s*6\b/,
    replace: 'maxAuthTries: 1',
    tests: ['test/stress/security.test.ts'],
  },
  {
    name: 'early-flush',
    what: "a kept-open stream's flush resolves before its write callback",
    // FlushTracker.flush(): `stream.write('', (err) => this.#settle(entry, err ?? undefined));`
    find: /(\w+)\.write\('',\s*\((\w+)\)\s*=>\s*([^;]*?)\);/,
    replace: "$1.write(''); (($2) => $3)(undefined);",
    tests: ['test/cli/asyncssh-629.test.ts'],
  },
  {
    name: 'cli-process-exit',
    what: 'the CLI calls process.exit() instead of setting process.exitCode',
    find: /\((\w+)\)\s*=>\s*\(process\.exitCode\s*=\s*\1\)/,
    replace: '($1) => process.exit($1)',
    tests: ['test/cli/asyncssh-629.test.ts'],
  },
  {
    name: 'exit-256-accepted',
    what: '--exit 256 accepted',
    find: /('--exit',\s*0,\s*)255\b/,
    replace: '$1256',
    tests: ['test/stress/fuzz.test.ts'],
  },
  {
    name: 'random-key-label',
    what: "a changed random key label (stdout's `loopssh-seed:<seed>`)",
    find: /`loopssh-seed:\$\{(\w+)\}`/,
    replace: '`loopssh-seed:${$1}:`',
    tests: ['test/interop/openssh-client.test.ts'],
  },
  {
    name: 'wrong-payload-byte',
    what: 'one wrong payload byte (offset 100) in the generator',
    // Wraps the reader factory so byte 100 of every stream has its low bit flipped.
    find: /export function createPayloadReader\(([^)]*)\)(\s*:\s*\w+)?\s*\{/,
    replace: [
      'export function createPayloadReader(spec: PayloadSpec, start = 0): PayloadReader {',
      '  const inner = mutatedPayloadReader(spec, start);',
      '  return {',
      '    get size() { return inner.size; },',
      '    get position() { return inner.position; },',
      '    get remaining() { return inner.remaining; },',
      '    read(target: Buffer): number {',
      '      const at = inner.position;',
      '      const n = inner.read(target);',
      '      if (at <= 100 && 100 < at + n) target[100 - at] = (target[100 - at] as number) ^ 1;',
      '      return n;',
      '    },',
      '  };',
      '}',
      'function mutatedPayloadReader($1)$2 {',
    ].join('\n'),
    tests: ['test/server/server.test.ts'],
  },
  {
    name: 'owned-done-at-finish',
    what: "an owned stream counts as done at 'finish' instead of 'close'",
    // owned()'s 'finish' handler settles only for a stream that will not
    // emit 'close' itself (willEmitClose): drop that condition.
    find: /if \(!closesItself\) (this\.#settle\(entry, undefined\);)/,
    replace: '$1',
    tests: ['test/client/connection.test.ts', 'test/stress/sinks.test.ts'],
  },
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The one file under src/ the mutation applies to, or a one-line reason why not. */
function locate(m: Mutation): { file: string } | { problem: string } {
  const hits = sourceFiles(join(ROOT, 'src')).filter((f) => m.find.test(readFileSync(f, 'utf8')));
  if (hits.length === 0) return { problem: `mutation ${m.name}: pattern not found in src/ (${m.find})` };
  if (hits.length > 1) return { problem: `mutation ${m.name}: pattern matches in several files: ${hits.map((f) => relative(ROOT, f)).join(', ')}` };
  const missing = m.tests.filter((t) => !existsSync(join(ROOT, t)));
  if (missing.length > 0) return { problem: `mutation ${m.name}: test file not found: ${missing.join(', ')}` };
  return { file: hits[0] as string };
}

/** Runs one test file; stops at its first failure. */
function runTests(file: string): { ok: boolean; summary: string; failed: string[] } {
  const r = spawnSync('npx', ['vitest', 'run', '--bail', '1', file], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    maxBuffer: 256 * 1024 * 1024,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const summary = /^\s*Tests\s+(.*)$/m.exec(out)?.[1]?.trim() ?? `exit ${r.status ?? r.signal} (no summary)`;
  const failed = [...out.matchAll(/^\s*(?:×|FAIL)\s+(.+?)(?:\s+\d+ms)?$/gm)].map((x) => (x[1] as string).trim()).filter((x, i, a) => a.indexOf(x) === i);
  return { ok: r.status === 0, summary, failed };
}

const originals = new Map<string, string>();
function restoreAll(): void {
  for (const [file, text] of originals) writeFileSync(file, text);
  originals.clear();
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    restoreAll();
    process.stderr.write(`mutate: ${sig}, sources restored\n`);
    process.exit(130);
  });
}

const args = process.argv.slice(2);
const words = args.filter((a) => !a.startsWith('--'));
const selected = MUTATIONS.filter((m) => words.length === 0 || words.some((w) => m.name.includes(w)));

let problems = 0;
const located = selected.map((m) => ({ m, where: locate(m) }));
for (const { m, where } of located) {
  if ('problem' in where) {
    console.log(where.problem);
    problems++;
  } else if (args.includes('--list')) {
    console.log(`${m.name.padEnd(22)} ${relative(ROOT, where.file)}  → ${m.tests.join(', ')}`);
  }
}
if (problems > 0) {
  console.log(`mutate: ${problems} mutation(s) cannot be applied; nothing was run`);
  process.exit(1);
}
if (args.includes('--list')) process.exit(0);

if (args.includes('--baseline')) {
  const files = [...new Set(selected.flatMap((m) => m.tests))];
  for (const t of files) {
    const r = runTests(t);
    console.log(`baseline ${t}: ${r.ok ? 'pass' : 'FAIL'} (${r.summary})`);
    if (!r.ok) {
      console.log(`mutate: the unmutated suite fails in ${t}; fix that first`);
      process.exit(1);
    }
  }
}

let survived = 0;
const started = Date.now();
for (const { m, where } of located) {
  if (!('file' in where)) continue;
  const file = where.file;
  const before = readFileSync(file, 'utf8');
  const after = before.replace(m.find, m.replace);
  if (after === before) throw new Error(`mutation ${m.name}: replacement changed nothing`);
  originals.set(file, before);
  writeFileSync(file, after);
  const perFile: string[] = [];
  let caught = false;
  try {
    for (const t of m.tests) {
      const r = runTests(t);
      caught ||= !r.ok;
      perFile.push(`    ${r.ok ? 'passed (did not catch)' : 'FAILED (caught)'}  ${t}  [${r.summary}]${r.failed.length ? `\n      first failure: ${r.failed[0]}` : ''}`);
    }
  } finally {
    restoreAll();
  }
  if (!caught) survived++;
  console.log(`${caught ? 'caught  ' : 'SURVIVED'} ${m.name}: ${m.what} (${relative(ROOT, file)})\n${perFile.join('\n')}`);
}
console.log(`mutate: ${located.length - survived} of ${located.length} caught, ${survived} survived (${Math.round((Date.now() - started) / 1000)} s)`);
process.exit(survived > 0 ? 1 : 0);

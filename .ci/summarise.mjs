#!/usr/bin/env node
// The closing line CI reads: `N passed, M failed[, K skipped]`, from vitest's
// JSON results. A file that fails before its tests run (an import error, a
// throwing beforeAll) leaves its tests 'skipped' and numFailedTests at 0;
// unhandled errors appear only as `success: false`. Both count as failures
// here, and so does a non-zero `npm test` status, so the line cannot say
// "0 failed" on a failing run.
//
// usage: [CI_FAILED_STEPS='typecheck lint'] node .ci/summarise.mjs RESULTS.json [NPM_TEST_STATUS] [STARTED_EPOCH_S]
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

/** Counts from a vitest JSON results object and the test command's exit status. */
export function summarise(results, testStatus = 0, failedSteps = []) {
  const brokenFiles = [];
  for (const file of results.testResults ?? []) {
    const failedTests = (file.assertionResults ?? []).filter((a) => a.status === 'failed').length;
    if (file.status === 'failed' && failedTests === 0) {
      brokenFiles.push({ name: file.name, message: String(file.message || 'failed in a hook').split('\n')[0] });
    }
  }
  let failed = (results.numFailedTests ?? 0) + brokenFiles.length;
  let unhandled = false;
  if (failed === 0 && (results.success === false || testStatus !== 0)) {
    failed = 1;
    unhandled = true;
  }
  failed += failedSteps.length;
  return {
    passed: results.numPassedTests ?? 0,
    failed,
    skipped: (results.numPendingTests ?? 0) + (results.numTodoTests ?? 0),
    total: results.numTotalTests ?? 0,
    files: (results.testResults ?? []).length,
    brokenFiles,
    unhandled,
    failedSteps,
  };
}

/** The lines .ci/run prints, the last one being `N passed, M failed...`. */
export function closingLines(summary, seconds) {
  const lines = [];
  for (const step of summary.failedSteps) lines.push(`ci: step failed: ${step}`);
  for (const f of summary.brokenFiles) lines.push(`ci: failed suite ${relative(process.cwd(), f.name)}: ${f.message}`);
  if (summary.unhandled) lines.push('ci: the run failed outside any test (unhandled error or test command status); see the log above');
  lines.push(`ci: ${summary.total} tests in ${summary.files} files${seconds === undefined ? '' : `, ${seconds} s`}`);
  lines.push(`${summary.passed} passed, ${summary.failed} failed${summary.skipped ? `, ${summary.skipped} skipped` : ''}`);
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, status = '0', started] = process.argv.slice(2);
  if (!path || !existsSync(path)) {
    console.log('ci: no test results written');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  const steps = (process.env.CI_FAILED_STEPS ?? '').split(/\s+/).filter(Boolean);
  const summary = summarise(JSON.parse(readFileSync(path, 'utf8')), Number(status), steps);
  const seconds = started ? Math.round(Date.now() / 1000) - Number(started) : undefined;
  for (const line of closingLines(summary, seconds)) console.log(line);
  process.exit(summary.failed > 0 ? 1 : 0);
}

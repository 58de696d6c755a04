/**
 * `loopssh audit` as a library (`loopssh/audit`): run any SSH client against
 * the audit's scenarios and get a report, e.g. to assert in a test suite
 * that a client loses no output.
 */
export { audit, type AuditOptions, type AuditReport, type ScenarioResult } from './audit.js';
export { SCENARIOS, type Scenario, type ExpectedExit } from './scenarios.js';
export { READERS, type ReaderName, type ReaderPace } from './readers.js';
export { VERDICTS, type Verdict, type StreamFacts, type ClientEnd } from './judge.js';
export type { RunOutcome } from './client-run.js';
export { formatTable, formatMarkdown, formatJson } from './report.js';

/**
 * `loopssh audit`: check any SSH client for lost or mislabelled output.
 */
export { audit, selectScenarios, type AuditOptions, type AuditReport, type ScenarioResult } from './audit.js';
export { SCENARIOS, SCENARIO_NAMES, type Scenario, type ExpectedExit } from './scenarios.js';
export { READERS, DEFAULT_PACE, type ReaderName, type ReaderPace } from './readers.js';
export { VERDICTS, type Verdict, type StreamFacts, type ClientEnd } from './judge.js';
export { PLACEHOLDERS, fillTemplate, type RunOutcome } from './client-run.js';
export { formatTable, formatMarkdown, formatJson } from './report.js';

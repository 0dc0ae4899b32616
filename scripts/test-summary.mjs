// Prints the plain closing line (`N passed, N failed`) over the three tiers' Vitest JSON reports.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const tier of ['unit', 'integration', 'e2e']) {
  const report = JSON.parse(readFileSync(new URL(`../test-results/vitest-${tier}.json`, import.meta.url), 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

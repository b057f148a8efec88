/**
 * A few seconds of the lading.json / index.json fuzzer (test/fuzz/metadata.fuzz.ts)
 * with a fixed seed, so every run of npm test tries the same few hundred
 * hostile documents; `npm run fuzz` runs it for longer with a new seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzz } from '../fuzz/metadata.fuzz.js';

test('hostile lading.json and index.json: described safely or refused with exit 7, never a crash', async () => {
  const report = await fuzz({ seconds: 5, seed: 20261202 });
  assert.ok(report.runs >= 50, `only ${report.runs} runs in 5 s`);
  assert.ok(report.runs > report.accepted, 'some mutants are refused (the fuzzer reaches the checks)');
});

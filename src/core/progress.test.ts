import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressMeter, formatBytes, formatDuration } from './progress.js';

test('progress never passes the total and reports a rate from real samples', () => {
  let now = 0;
  const meter = new ProgressMeter(1000, () => now);
  assert.equal(meter.snapshot().bytesPerSecond, 0);
  now = 1000;
  meter.advance(400);
  const s1 = meter.snapshot();
  assert.equal(s1.done, 400);
  assert.equal(Math.round(s1.bytesPerSecond), 400);
  assert.equal(Math.round(s1.etaSeconds!), 2);
  meter.advance(10_000);
  assert.equal(meter.snapshot().done, 1000);
  assert.equal(meter.snapshot().etaSeconds, 0);
});

test('the ETA does not creep upwards on small rate wobbles', () => {
  let now = 0;
  const meter = new ProgressMeter(10_000, () => now);
  now = 1000;
  meter.advance(1000);
  const first = meter.snapshot().etaSeconds!;
  now = 2100;
  meter.advance(1000);
  const second = meter.snapshot().etaSeconds!;
  assert.ok(second <= first, `ETA went from ${first} to ${second}`);
});

test('formats bytes and durations for people', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(256 * 1024 * 1024), '256 MiB');
  assert.equal(formatDuration(59), '59s');
  assert.equal(formatDuration(61), '1m01s');
  assert.equal(formatDuration(3700), '1h01m');
});

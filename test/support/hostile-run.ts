/**
 * Runs `lading create` the way the hostile-registry tests need it: in one
 * directory (spec, output and cache inside it), under /usr/bin/time for the
 * peak RSS, timed; and the assertions every hostile case shares.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LADING_BIN, specText } from './lading.js';
import { requireTool } from './tools.js';

const MAX_RSS_KIB = 300 << 10;
const MAX_MS = 30_000;

export interface MeasuredRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  maxRssKiB: number;
  dir: string;
}

/** `lading create lading.yaml -o out.tar ARGS` in `dir` with LADING_CACHE_DIR=dir/cache. */
export async function createIn(dir: string, image: string, options: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<MeasuredRun> {
  const time = requireTool('time', 'install it with `apt-get install time`');
  await writeFile(join(dir, 'lading.yaml'), specText([image], ['linux/amd64']));
  const rssFile = join(dir, '..', `.rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const started = performance.now();
  const child = spawn(time, ['-f', '%M', '-o', rssFile, LADING_BIN, 'create', 'lading.yaml', '-o', 'out.tar', ...(options.args ?? [])], {
    cwd: dir,
    env: { ...process.env, CI: '1', NO_COLOR: '1', LADING_CACHE_DIR: join(dir, 'cache'), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const killer = setTimeout(() => child.kill('SIGKILL'), 2 * MAX_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  const ms = performance.now() - started;
  // time writes "Command exited with non-zero status N" first when it failed; the last line is %M.
  const maxRssKiB = Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop());
  await rm(rssFile, { force: true });
  return { code, stdout, stderr, ms, maxRssKiB, dir };
}

/** Quick enough and small enough, whatever the registry did. */
export function assertBounded(r: MeasuredRun): void {
  assert.ok(r.ms < MAX_MS, `took ${Math.round(r.ms)} ms`);
  assert.ok(r.maxRssKiB > 0 && r.maxRssKiB < MAX_RSS_KIB, `peak RSS ${r.maxRssKiB} KiB`);
}

/**
 * Failed with `code` and exactly one error line matching `message`: no stack,
 * no bug banner, no escape sequence. Returns the line (for t.diagnostic).
 */
export function assertRefused(r: MeasuredRun, code: number, message: RegExp): string {
  assert.equal(r.code, code, r.stdout + r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, message);
  assert.doesNotMatch(r.stderr, /bug in lading|^\s+at /m);
  assert.doesNotMatch(r.stdout + r.stderr, /\u001b/, 'no escape sequence from the registry reaches the terminal');
  assertBounded(r);
  return `exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s, peak RSS ${Math.round(r.maxRssKiB / 1024)} MiB: ${errors[0]}`;
}

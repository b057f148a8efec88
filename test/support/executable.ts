/**
 * The single executable (dist/lading-linux-<arch>, scripts/sea.mjs), rebuilt for a test when it is
 * missing or older than what it is made of: dist/lading.mjs, the SEA scripts, and the injector's sources
 * (it carries the injector and its loader). `npm test` builds only dist/lading.mjs.
 */
import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const EXECUTABLE = join(REPO, 'dist', `lading-linux-${process.arch}`);
export const DIST = join(REPO, 'dist', 'lading.mjs');

/** The Node flags dist/lading.mjs asks for on its #! line (scripts/build.mjs): what bin/lading and the executables pass. */
export function distNodeFlags(): string[] {
  const head = Buffer.alloc(4096); // the #! line, not the 6 MiB after it
  const fd = openSync(DIST, 'r');
  let read;
  try {
    read = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const text = head.subarray(0, read).toString('utf8');
  const first = text.slice(0, text.indexOf('\n'));
  const prefix = '#!/usr/bin/env -S node';
  if (!first.startsWith(prefix)) throw new Error(`${DIST} does not start with its #! line: ${first}`);
  return first.slice(prefix.length).split(' ').filter(Boolean);
}

/** Rebuilds the executable unless it is newer than everything it is made of; says which. */
export async function ensureExecutable(): Promise<string> {
  const mtime = (file: string) => stat(file).then((s) => s.mtimeMs, () => -1);
  const built = await mtime(EXECUTABLE);
  const injectorDir = join(REPO, 'src', 'injector');
  const injectorSources = [...(await readdir(injectorDir)).map((f) => join(injectorDir, f)), ...(await readdir(join(injectorDir, 'loader'))).map((f) => join(injectorDir, 'loader', f))];
  const inputs = await Promise.all([...['dist/lading.mjs', 'scripts/sea.mjs', 'scripts/sea-main.cjs'].map((f) => join(REPO, f)), ...injectorSources].map(mtime));
  if (inputs[0]! < 0) throw new Error('dist/lading.mjs is missing: run `npm run build` (or `npm test`, which builds it)');
  if (built > Math.max(...inputs)) return 'up to date';
  const started = performance.now();
  try {
    await run(process.execPath, [join(REPO, 'scripts', 'sea.mjs'), process.arch], { cwd: REPO, timeout: 600_000 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`could not build ${EXECUTABLE} (\`npm run build\` builds it too): ${e.stderr || e.message}`);
  }
  return `rebuilt in ${((performance.now() - started) / 1000).toFixed(1)} s`;
}

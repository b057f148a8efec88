/**
 * Finds the injector binary for a node's platform. The contract with the build:
 *  1. $LADING_INJECTOR_DIR/injector-linux-{amd64,arm64}, when set;
 *  2. injector/injector-linux-{amd64,arm64} beside the running module (where `npm run build` is to put
 *     them next to dist/lading.mjs; the single-file build will embed them instead);
 *  3. in a source checkout, built from src/injector with src/injector/build (Go, cached by source hash
 *     under ~/.cache/lading/injector/).
 * Its sha256 is computed here; payload.ts checks it again while it reads the file into ConfigMaps.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AbortError, ExitCode } from '../errors.js';

const run = promisify(execFile);

export interface InjectorBinary {
  platform: string;
  path: string;
  size: number;
  /** Hex sha256. */
  sha256: string;
}

/** linux/amd64 or linux/arm64 (a variant such as arm64/v8 is the same binary). */
export function injectorArch(platform: string): 'amd64' | 'arm64' {
  const [os, arch] = platform.split('/');
  if (os === 'linux' && (arch === 'amd64' || arch === 'arm64')) return arch;
  throw new AbortError(`the injector is built for linux/amd64 and linux/arm64, not ${platform}`, {
    exitCode: ExitCode.node,
    hint: 'Use --bootstrap exec for nodes of other platforms.',
  });
}

async function describe(platform: string, path: string): Promise<InjectorBinary> {
  const { size } = await stat(path);
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return { platform, path, size, sha256: hash.digest('hex') };
}

export async function locateInjector(platform: string, env: NodeJS.ProcessEnv = process.env): Promise<InjectorBinary> {
  const file = `injector-linux-${injectorArch(platform)}`;
  if (env.LADING_INJECTOR_DIR) {
    const path = join(env.LADING_INJECTOR_DIR, file);
    if (!existsSync(path)) throw new AbortError(`LADING_INJECTOR_DIR has no ${file}`, { hint: `Put ${file} into ${env.LADING_INJECTOR_DIR}, or unset LADING_INJECTOR_DIR.` });
    return describe(platform, path);
  }
  const beside = fileURLToPath(new URL(`./injector/${file}`, import.meta.url));
  if (existsSync(beside)) return describe(platform, beside);
  const script = fileURLToPath(new URL('../../injector/build', import.meta.url));
  if (!existsSync(script)) {
    throw new AbortError(`this lading carries no injector for ${platform}`, { hint: 'Set LADING_INJECTOR_DIR to a directory with injector-linux-amd64 and injector-linux-arm64.' });
  }
  try {
    const { stdout } = await run('bash', [script, `linux/${injectorArch(platform)}`], { timeout: 10 * 60_000, maxBuffer: 1 << 20 });
    const [, path] = stdout.trim().split(' ');
    return await describe(platform, path!);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new AbortError(`building the injector failed: ${stderr.trim().split('\n').at(-1)}`, { hint: 'Install Go >= 1.24 (https://go.dev/dl/), or set LADING_INJECTOR_DIR.', cause: error });
  }
}

/**
 * Finds the injector binary for a node's platform, and its stage-0 loader (the program a pod runs first:
 * it joins the injector's chunks from the ConfigMaps and executes it). The contract with the build:
 *  1. $LADING_INJECTOR_DIR/{injector,loader}-linux-{amd64,arm64}, when set;
 *  2. injector/{injector,loader}-linux-{amd64,arm64} beside the running module (where `npm run build` is
 *     to put them next to dist/lading.mjs; the single-file build will embed them instead);
 *  3. in a source checkout, built from src/injector with src/injector/build (Go and llvm-mc, cached by
 *     source hash under ~/.cache/lading/injector/).
 * Their sha256 is computed here; payload.ts checks it again while it reads the file into ConfigMaps.
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

export interface ProgramFile {
  path: string;
  size: number;
  /** Hex sha256. */
  sha256: string;
}

export interface InjectorBinary extends ProgramFile {
  platform: string;
  /** The stage-0 loader for the same platform (a few hundred bytes). */
  loader: ProgramFile;
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

async function describeFile(path: string): Promise<ProgramFile> {
  const { size } = await stat(path);
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return { path, size, sha256: hash.digest('hex') };
}

async function describe(platform: string, path: string, loaderPath: string): Promise<InjectorBinary> {
  return { platform, ...(await describeFile(path)), loader: await describeFile(loaderPath) };
}

export async function locateInjector(platform: string, env: NodeJS.ProcessEnv = process.env): Promise<InjectorBinary> {
  const file = `injector-linux-${injectorArch(platform)}`;
  const loader = `loader-linux-${injectorArch(platform)}`;
  if (env.LADING_INJECTOR_DIR) {
    const missing = [file, loader].filter((f) => !existsSync(join(env.LADING_INJECTOR_DIR!, f)));
    if (missing.length) throw new AbortError(`LADING_INJECTOR_DIR has no ${missing.join(' and no ')}`, { hint: `Put ${file} and ${loader} into ${env.LADING_INJECTOR_DIR} (src/injector/build makes them), or unset LADING_INJECTOR_DIR.` });
    return describe(platform, join(env.LADING_INJECTOR_DIR, file), join(env.LADING_INJECTOR_DIR, loader));
  }
  const beside = fileURLToPath(new URL(`./injector/${file}`, import.meta.url));
  if (existsSync(beside)) return describe(platform, beside, fileURLToPath(new URL(`./injector/${loader}`, import.meta.url)));
  // A source checkout: from src/core/configmap/ (tsx) or from dist/lading.mjs (bin/lading's build).
  const script = [new URL('../../injector/build', import.meta.url), new URL('../src/injector/build', import.meta.url)].map((u) => fileURLToPath(u)).find((p) => existsSync(p));
  if (!script) {
    throw new AbortError(`this lading carries no injector for ${platform}`, { hint: 'Set LADING_INJECTOR_DIR to a directory with injector-linux-amd64 and injector-linux-arm64.' });
  }
  try {
    const { stdout } = await run('bash', [script, `linux/${injectorArch(platform)}`], { timeout: 10 * 60_000, maxBuffer: 1 << 20 });
    const [, path, , , loaderPath] = stdout.trim().split(' ');
    return await describe(platform, path!, loaderPath!);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new AbortError(`building the injector failed: ${stderr.trim().split('\n').at(-1)}`, { hint: 'Install Go >= 1.24 (https://go.dev/dl/) and llvm (apt-get install llvm), or set LADING_INJECTOR_DIR.', cause: error });
  }
}

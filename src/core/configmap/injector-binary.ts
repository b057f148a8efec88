/**
 * Finds the injector binary for a node's platform, and its stage-0 loader (the program a pod runs first:
 * it joins the injector's chunks from the ConfigMaps and executes it). The contract with the build:
 *  0. the single executable (scripts/sea.mjs) carries both for both architectures as assets: written once
 *     to the cache (~/.cache/lading/injector/embedded-<sha256>/), checked, and used from there;
 *  1. $LADING_INJECTOR_DIR/{injector,loader}-linux-{amd64,arm64}, when set;
 *  2. in a source checkout, built from src/injector with src/injector/build (Go and llvm-mc, cached by
 *     source hash under ~/.cache/lading/injector/);
 *  3. injector/{injector,loader}-linux-{amd64,arm64} beside the running module (`npm run build` puts them
 *     next to dist/lading.mjs, for a copy of it carried without the executables).
 * Their sha256 is computed here; payload.ts checks it again while it reads the file into ConfigMaps.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
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

/** The assets of the single executable, or undefined when this is not one. */
function executableAssets(): { getAsset(name: string): ArrayBuffer } | undefined {
  try {
    const sea = createRequire(import.meta.url)('node:sea') as { isSea(): boolean; getAsset(name: string): ArrayBuffer };
    return sea.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

/** An asset of the executable as a file in the cache, named by its sha256 (written once, atomically). */
async function assetFile(sea: { getAsset(name: string): ArrayBuffer }, name: string, env: NodeJS.ProcessEnv): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = Buffer.from(sea.getAsset(name));
  } catch {
    throw new AbortError(`this lading executable carries no ${name}`, { hint: 'Build it with npm run build (Go and llvm are needed), or set LADING_INJECTOR_DIR.' });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const dir = join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'lading', 'injector', `embedded-${sha256.slice(0, 16)}`);
  const file = join(dir, name.split('/').pop()!);
  if (!existsSync(file)) {
    await mkdir(dir, { recursive: true });
    const partial = `${file}.partial-${process.pid}`;
    await writeFile(partial, bytes, { mode: 0o755 });
    await rename(partial, file);
  }
  return file;
}

export async function locateInjector(platform: string, env: NodeJS.ProcessEnv = process.env): Promise<InjectorBinary> {
  const file = `injector-linux-${injectorArch(platform)}`;
  const loader = `loader-linux-${injectorArch(platform)}`;
  const sea = executableAssets();
  if (sea && !env.LADING_INJECTOR_DIR) {
    // describe() hashes the files again: a cached file that changed since is not used unnoticed.
    const [injectorPath, loaderPath] = [await assetFile(sea, `injector/${file}`, env), await assetFile(sea, `injector/${loader}`, env)];
    const found = await describe(platform, injectorPath, loaderPath);
    const expected = createHash('sha256').update(Buffer.from(sea.getAsset(`injector/${file}`))).digest('hex');
    if (found.sha256 !== expected) throw new AbortError(`${injectorPath} differs from the injector this executable carries`, { exitCode: ExitCode.integrity, hint: `Remove ${injectorPath} and run again.` });
    return found;
  }
  if (env.LADING_INJECTOR_DIR) {
    const missing = [file, loader].filter((f) => !existsSync(join(env.LADING_INJECTOR_DIR!, f)));
    if (missing.length) throw new AbortError(`LADING_INJECTOR_DIR has no ${missing.join(' and no ')}`, { hint: `Put ${file} and ${loader} into ${env.LADING_INJECTOR_DIR} (src/injector/build makes them), or unset LADING_INJECTOR_DIR.` });
    return describe(platform, join(env.LADING_INJECTOR_DIR, file), join(env.LADING_INJECTOR_DIR, loader));
  }
  // A source checkout (from src/core/configmap/ under tsx, or from dist/lading.mjs): built from the sources,
  // cached by their hash, so an edited injector is never shadowed by an older build beside dist/lading.mjs.
  const script = [new URL('../../injector/build', import.meta.url), new URL('../src/injector/build', import.meta.url)].map((u) => fileURLToPath(u)).find((p) => existsSync(p));
  if (!script) {
    const beside = fileURLToPath(new URL(`./injector/${file}`, import.meta.url));
    if (existsSync(beside)) return describe(platform, beside, fileURLToPath(new URL(`./injector/${loader}`, import.meta.url)));
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

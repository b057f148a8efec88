// Builds dist/lading-linux-<arch>: a single executable application (Node's SEA) made of the Node 24
// binary of npm's node-linux-<arch> package (cached by scripts/node-env.sh) with dist/lading.mjs inside,
// and the ConfigMap injector and its loader for linux/amd64 and linux/arm64 (src/injector/build: Go and
// llvm), which src/core/configmap/injector-binary.ts takes from the executable.
// Needs dist/lading.mjs (scripts/build.mjs). Run by `npm run build` (build.mjs --sea), or alone:
//   node scripts/sea.mjs [x64] [arm64]      (default: both)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SEA_ARCHES = ['x64', 'arm64'];
const ELF_MACHINE = { x64: 0x3e, arm64: 0xb7 };
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = path.join(ROOT, 'dist');
// Node's fixed name of the fuse that tells a binary it carries a SEA blob.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const POSTJECT = fileURLToPath(import.meta.resolve('postject/dist/cli.js'));

/** Runs a build step quietly; its output is shown when it fails. */
function quietly(file, args) {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    throw new Error(`${path.basename(file)} ${args.join(' ')} failed:\n${error.stdout ?? ''}${error.stderr ?? error.message}`);
  }
}

/** The directory of the pinned Node for linux-<arch>, fetched from the npm registry once (node-env.sh). */
function nodeDir(arch) {
  const script = `source "${ROOT}/scripts/node-env.sh" && lading_node_dir linux ${arch}`;
  return execFileSync('bash', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** The Node flags lading.mjs asks for on its first line (`#!/usr/bin/env -S node FLAGS`, see build.mjs). */
function shebangFlags(source) {
  const first = source.slice(0, source.indexOf('\n'));
  const match = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(first);
  if (!match) throw new Error(`dist/lading.mjs does not start with the expected #! line: ${first}`);
  return match[1].trim().split(' ').filter(Boolean);
}

async function elfMachine(file) {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(20);
    await handle.read(head, 0, 20, 0);
    return head.toString('latin1', 0, 4) === '\x7fELF' ? head.readUInt16LE(18) : -1;
  } finally {
    await handle.close();
  }
}

/** The injector and loader for both architectures, built (or found cached) by src/injector/build, as SEA assets. */
function injectorAssets() {
  let out;
  try {
    out = execFileSync('bash', [path.join(ROOT, 'src', 'injector', 'build')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`the executables carry the ConfigMap injector, and building it failed (Go >= 1.24 and llvm are needed):\n${error.stderr ?? error.message}`);
  }
  const assets = {};
  for (const line of out.trim().split('\n')) {
    const [platform, injector, , , loader] = line.split(' ');
    const arch = platform.split('/')[1];
    assets[`injector/injector-linux-${arch}`] = injector;
    assets[`injector/loader-linux-${arch}`] = loader;
  }
  // dist/lading.mjs carried without the executables (beside a Node) finds them in dist/injector/.
  mkdirSync(path.join(DIST, 'injector'), { recursive: true });
  for (const [name, file] of Object.entries(assets)) copyFileSync(file, path.join(DIST, name));
  return assets;
}

/** Writes the preparation blob, the same for every arch: no snapshot nor code cache, which are arch-bound. */
async function prepareBlob(work, execArgv) {
  const config = path.join(work, 'sea-config.json');
  const blob = path.join(work, 'lading.blob');
  await writeFile(config, JSON.stringify({
    main: path.join(ROOT, 'scripts', 'sea-main.cjs'),
    output: blob,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    execArgv,
    // NODE_OPTIONS still adds to execArgv, as for `node lading.mjs`.
    execArgvExtension: 'env',
    assets: { 'lading.mjs': path.join(DIST, 'lading.mjs'), ...injectorAssets() },
  }));
  // The blob's format is that of the Node version that reads it: make it with the pinned one, not this process's.
  quietly(path.join(nodeDir(process.arch), 'bin', 'node'), ['--experimental-sea-config', config]);
  return blob;
}

async function writeExecutable(arch, blob) {
  const file = path.join(DIST, `lading-linux-${arch}`);
  const partial = path.join(DIST, `.lading-linux-${arch}.partial-${process.pid}`);
  try {
    await copyFile(path.join(nodeDir(arch), 'bin', 'node'), partial);
    await chmod(partial, 0o755);
    if ((await elfMachine(partial)) !== ELF_MACHINE[arch]) throw new Error(`the node binary of node-linux-${arch} is not an ELF for ${arch}`);
    // postject's CLI in a child: its ELF library prints harmless warnings ("Can't find string offset").
    quietly(process.execPath, [POSTJECT, partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
    await rename(partial, file);
  } finally {
    await rm(partial, { force: true });
  }
  const sha256 = createHash('sha256').update(await readFile(file)).digest('hex');
  // `sha256sum -c lading-linux-<arch>.sha256` beside the executable checks it.
  await writeFile(`${file}.sha256`, `${sha256}  ${path.basename(file)}\n`);
  return { arch, file, size: (await stat(file)).size, sha256 };
}

/** Builds the executables for `arches`; checks the one this machine can run answers --version. */
export async function buildExecutables(arches = SEA_ARCHES) {
  // The pinned Linux Node makes the blob, so it must run here.
  if (process.platform !== 'linux' || !SEA_ARCHES.includes(process.arch)) throw new Error(`the executables are built on Linux ${SEA_ARCHES.join(' or ')}, not ${process.platform}-${process.arch}`);
  const source = await readFile(path.join(DIST, 'lading.mjs'), 'utf8');
  const version = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')).version;
  const work = await mkdtemp(path.join(tmpdir(), 'lading-sea-'));
  const built = [];
  try {
    const blob = await prepareBlob(work, shebangFlags(source));
    for (const arch of arches) built.push(await writeExecutable(arch, blob));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  for (const b of built.filter((b) => b.arch === process.arch)) {
    const answer = execFileSync(b.file, ['--version'], { encoding: 'utf8', env: { PATH: '' } }).trim();
    if (answer !== version) throw new Error(`${b.file} --version printed ${JSON.stringify(answer)}, not ${version}`);
  }
  return built;
}

export function describeExecutable(b) {
  return `dist/lading-linux-${b.arch} ${(b.size / 1024 / 1024).toFixed(1)} MiB sha256 ${b.sha256}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arches = process.argv.slice(2);
  const unknown = arches.filter((a) => !SEA_ARCHES.includes(a));
  if (unknown.length) throw new Error(`unknown arch ${unknown.join(', ')}: one of ${SEA_ARCHES.join(', ')}`);
  for (const b of await buildExecutables(arches.length ? arches : SEA_ARCHES)) console.log(describeExecutable(b));
}

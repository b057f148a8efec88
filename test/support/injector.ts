/**
 * The ConfigMap injector as a pod would run it, without a cluster: built from src/injector (Go, cached),
 * its payload made by lading's own payload.ts from a bundle and written as the kubelet mounts ConfigMaps
 * (read-only to the injector), and the injector started as nobody (uid 65534, no groups, no capabilities,
 * no_new_privs) with an empty environment, on a free port of 127.0.0.1.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { readDescription } from '../../src/core/bundle/documents.js';
import { payloadConfigMaps, planPayload, writePayloadDir, type PayloadPlan } from '../../src/core/configmap/payload.js';
import { freePort } from './registry.js';
import { requireTool } from './tools.js';

const run = promisify(execFile);
const BUILD = fileURLToPath(new URL('../../src/injector/build', import.meta.url));

export interface BuiltInjector {
  platform: string;
  path: string;
  size: number;
  sha256: string;
  /** Its stage-0 loader (src/injector/loader). */
  loader: { path: string; size: number; sha256: string };
}

/** Builds (or finds cached) the injector for linux/amd64 and linux/arm64. */
export async function buildInjector(): Promise<Record<string, BuiltInjector>> {
  requireTool('go', 'install Go >= 1.24 (https://go.dev/dl/ or `apt-get install golang`); the injector is built from src/injector');
  requireTool('llvm-mc', 'install it with `apt-get install llvm`; the injector\'s loader is assembled from src/injector/loader');
  const { stdout } = await run('bash', [BUILD], { timeout: 10 * 60_000, maxBuffer: 1 << 20 });
  const built = stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [platform, path, size, sha256, loaderPath, loaderSize, loaderSha256] = line.split(' ');
      return { platform: platform!, path: path!, size: Number(size), sha256: sha256!, loader: { path: loaderPath!, size: Number(loaderSize), sha256: loaderSha256! } };
    });
  return Object.fromEntries(built.map((b) => [b.platform, b]));
}

/** Writes the payload of `names` (full image names) for `platform` under `root`, as mounted ConfigMaps. */
export async function writePayload(bundle: string, names: string[], platform: string, injector: BuiltInjector, root: string): Promise<{ plan: PayloadPlan; dirs: string[] }> {
  const reader = await BundleReader.open(bundle);
  try {
    const { metadata } = await readDescription(reader);
    const images = metadata.images.filter((i) => names.includes(i.name));
    const plan = planPayload(images, platform, injector);
    const dirs = await writePayloadDir(payloadConfigMaps(plan, { reader, injectorPath: injector.path }), join(root, 'payload'));
    return { plan, dirs };
  } finally {
    await reader.close();
  }
}

/** Makes `root` traversable by nobody and everything below it unwritable (directories 0555). */
export async function makeReadOnly(root: string): Promise<void> {
  await chmod(root, 0o755);
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(dir, entry.name));
    }
    await chmod(dir, 0o555);
  };
  for (const entry of await readdir(root, { withFileTypes: true })) if (entry.isDirectory()) await walk(join(root, entry.name));
}

export interface RunningInjector {
  child: ChildProcess;
  pid: number;
  host: string;
  startedAt: number;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** Starts the injector binary (copied under `root`, so nobody may run it) on the payload directories. */
export async function startInjector(binary: string, dirs: string[], root: string): Promise<RunningInjector> {
  const bin = join(root, 'bin', 'injector');
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile(binary, bin);
  await chmod(bin, 0o555);
  await chmod(join(root, 'bin'), 0o555);
  const port = await freePort();
  const args = ['-listen', `127.0.0.1:${port}`, ...dirs];
  const asNobody = process.getuid?.() === 0;
  const [command, argv] = asNobody
    ? [
        requireTool('setpriv', 'install it with `apt-get install util-linux`'),
        ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', bin, ...args],
      ]
    : [bin, args];
  const startedAt = performance.now();
  const child = spawn(command, argv, { env: {}, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const check = () => (/listening on/.test(stderr) ? resolve() : undefined);
    child.stderr!.on('data', check);
    void exited.then((code) => reject(new Error(`the injector exited with ${code}: ${stderr}`)));
  });
  return {
    child,
    pid: child.pid!,
    host: `127.0.0.1:${port}`,
    startedAt,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

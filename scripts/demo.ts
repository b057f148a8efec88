// npm run demo [-- --scale N] [--serve-only] [--cluster] [--output FILE] [-- extra lading create flags]
//
// Needs nothing but Node: builds the sample images (fixtures/demo/images.ts) with our own code into
// a seed bundle, serves it with `lading serve` on 127.0.0.1:5055 ($LADING_DEMO_PORT), runs
// `lading create fixtures/demo/lading.yaml -o out/demo.lading.tar` on this terminal (the live view
// draws here), then `lading inspect` and `lading verify` of the result, stops the server, and exits
// with the first failing exit code (0 when all passed). Every step runs bin/lading, as a user would.
// --cluster goes on to the air-gapped half on the project's test cluster (scripts/demo-cluster.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { demoPort } from '../fixtures/demo/images.js';
import { ensureSeedBundle } from '../fixtures/demo/seed.js';
import { clusterHalf } from './demo-cluster.js';
import { REPO_ROOT, demoSpecFor, demoStateDir } from '../fixtures/demo/spec.js';

const LADING = path.join(REPO_ROOT, 'bin', 'lading');
const USAGE = `usage: npm run demo -- [--scale N] [--serve-only] [--cluster] [--output FILE] [-- <extra lading create flags>]
  --scale N      multiply the size of the demo's random layers (default 1: ~16 MiB in all)
  --serve-only   only serve the sample images (lading serve) until Ctrl-C, to pull from with other tools
  --cluster      then the air-gapped half on the test cluster (root; bash test/cluster/build first):
                 install in the live view, a node's hard reset, and lading check --repair
  --output FILE  the bundle to write (default out/demo.lading.tar)
env: LADING_DEMO_PORT (default 5055), LADING_DEMO_DIR (seed bundle; default .state/demo), LADING_CACHE_DIR`;

interface Args {
  scale: number;
  serveOnly: boolean;
  cluster: boolean;
  output: string;
  extra: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { scale: 1, serveOnly: false, cluster: false, output: path.join(REPO_ROOT, 'out', 'demo.lading.tar'), extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.extra = argv.slice(i + 1);
      break;
    } else if (a === '--serve-only') args.serveOnly = true;
    else if (a === '--cluster') args.cluster = true;
    else if (a === '--scale') args.scale = Number(argv[++i]);
    else if (a === '--output') args.output = path.resolve(argv[++i] ?? '');
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`demo: unknown argument ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (!(args.scale > 0)) {
    console.error(`demo: --scale wants a positive number\n${USAGE}`);
    process.exit(2);
  }
  return args;
}

const rel = (file: string) => (path.relative(REPO_ROOT, file).startsWith('..') ? file : path.relative(REPO_ROOT, file));

function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
  });
}

/** Runs bin/lading on this terminal; Ctrl-C reaches it directly (same process group). */
async function lading(args: string[]): Promise<number> {
  console.log(`\ndemo: lading ${args.map((a) => (path.isAbsolute(a) ? rel(a) : a)).join(' ')}\n`);
  return exitCodeOf(spawn(LADING, args, { cwd: REPO_ROOT, stdio: 'inherit' }));
}

interface Serving {
  child: ChildProcess;
  url: string;
  images: number;
}

/** Starts `lading serve SEED --json` and waits for its first line, which says where it listens. */
async function serve(seed: string, port: number): Promise<Serving> {
  const child = spawn(LADING, ['serve', seed, '--listen', `127.0.0.1:${port}`, '--json'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  process.once('exit', () => child.kill('SIGTERM'));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string | undefined>((resolve) => {
    lines.once('line', resolve);
    child.once('exit', () => resolve(undefined));
  });
  let started: { event?: string; url: string; images: unknown[] } | undefined;
  try {
    started = first === undefined ? undefined : JSON.parse(first);
  } catch {
    // not the start line: the error document that ends a failed start (its banner is on stderr)
  }
  if (started?.event !== 'listening') {
    lines.close();
    const code = await exitCodeOf(child);
    throw new Error(`lading serve did not start (exit code ${code}, see above)${code === 2 ? `; another port: LADING_DEMO_PORT=${port + 1} npm run demo` : ''}`);
  }
  // Later lines (a damaged blob) go to the terminal as they are.
  lines.on('line', (line) => console.error(`serve: ${line}`));
  return { child, url: started.url, images: started.images.length };
}

async function stop(server: Serving): Promise<void> {
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
  await exitCodeOf(server.child);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const port = demoPort();
  const stateDir = demoStateDir();
  const t0 = performance.now();
  const seed = await ensureSeedBundle(stateDir, { scale: args.scale });
  console.log(`demo: ${seed.images.length} sample images built by fixtures/demo/images.ts into ${rel(seed.path)} (${seed.reused ? 'reused' : 'written'}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  console.log(`demo: lading serve ${rel(seed.path)} --listen 127.0.0.1:${port}`);
  const server = await serve(seed.path, port);
  console.log(`demo: serving ${server.images} images on ${server.url}`);
  // Ctrl-C also reaches the children; the demo itself waits for them and then cleans up.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    if (args.serveOnly) {
      const host = server.url.replace(/^https?:\/\//, '');
      console.log(`demo: pull from it, e.g. skopeo inspect --tls-verify=false docker://${host}/demo/web:1.0 (Ctrl-C stops it)`);
      return await exitCodeOf(server.child);
    }
    const spec = demoSpecFor(`127.0.0.1:${port}`, stateDir);
    mkdirSync(path.dirname(args.output), { recursive: true });
    let code = await lading(['create', rel(spec), '-o', args.output, '--force', ...args.extra]);
    if (code === 0) code = await lading(['inspect', args.output]);
    if (code === 0) code = await lading(['verify', args.output]);
    if (code === 0 && args.cluster) {
      // The air gap: nothing serves the images any more.
      await stop(server);
      code = await clusterHalf(args.output);
    }
    console.log(code === 0 ? `\ndemo: done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${rel(args.output)} created, inspected and verified${args.cluster ? ', installed, and repaired after a node reset' : ''}` : `\ndemo: stopped (exit code ${code})`);
    return code;
  } finally {
    await stop(server);
    process.off('SIGINT', ignore);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);

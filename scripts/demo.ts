// npm run demo [-- --keep] [--push-only] [--tls] [--scale N] [-- extra lading create flags]
//
// Starts (or reuses) the demo registry on 127.0.0.1:5055 ($LADING_DEMO_PORT),
// pushes the demo images, runs `lading create fixtures/demo/lading.yaml -o
// out/demo.lading.tar` on this terminal (the TUI draws here), stops the registry
// if this run started it (unless --keep), and exits with the CLI's exit code.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEMO_STATE_DIR, REPO_ROOT, demoSpecFor, describePushed, ensureDemoRegistry, pushDemoImages } from '../fixtures/demo/demo-registry.js';

const USAGE = `usage: npm run demo -- [--keep] [--push-only] [--tls] [--scale N] [-- <extra lading create flags>]
  --keep        leave the demo registry running afterwards (stop it later: bash scripts/with-node24 node --import tsx scripts/demo-registry.ts down)
  --push-only   start the registry and push the images, do not run lading
  --tls         serve the registry over TLS (a fresh CA, passed to lading with --ca-file)
  --scale N     multiply the size of the demo's random layers (default 1: ~16 MiB in all)
env: LADING_DEMO_PORT (default 5055)`;

interface Args {
  keep: boolean;
  pushOnly: boolean;
  tls: boolean;
  scale: number;
  extra: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { keep: false, pushOnly: false, tls: false, scale: 1, extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.extra = argv.slice(i + 1);
      break;
    } else if (a === '--keep') args.keep = true;
    else if (a === '--push-only') args.pushOnly = true;
    else if (a === '--tls') args.tls = true;
    else if (a === '--scale') args.scale = Number(argv[++i]);
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

async function runCli(cliArgs: string[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...cliArgs], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  // Ctrl-C reaches the CLI directly (same terminal process group); we wait for it to finish, then clean up.
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal !== 'SIGINT') child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0));
      });
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const { registry, startedNow } = await ensureDemoRegistry({ tls: args.tls });
  let code = 1;
  try {
    console.log(
      `demo: registry ${registry.url} (${startedNow ? 'started' : 'already running'}, state ${path.relative(REPO_ROOT, DEMO_STATE_DIR)}, pid ${registry.pid})`,
    );
    const pushed = await pushDemoImages(registry, { scale: args.scale });
    console.log(`demo: pushed ${pushed.length} images in ${((performance.now() - t0) / 1000).toFixed(1)} s\n${describePushed(pushed)}`);

    if (args.pushOnly) return (code = 0);
    const cli = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
    if (!existsSync(cli)) {
      console.error(`demo: ${path.relative(REPO_ROOT, cli)} does not exist yet; the registry and images are ready (--push-only)`);
      return 1;
    }
    const spec = demoSpecFor(registry.host);
    const output = path.join(REPO_ROOT, 'out', 'demo.lading.tar');
    mkdirSync(path.dirname(output), { recursive: true });
    const cliArgs = ['create', path.relative(REPO_ROOT, spec), '-o', path.relative(REPO_ROOT, output), '--force'];
    if (registry.caFile) cliArgs.push('--ca-file', registry.caFile);
    cliArgs.push(...args.extra);
    console.log(`demo: lading ${cliArgs.join(' ')}\n`);
    code = await runCli(cliArgs);
    return code;
  } finally {
    await registry.dispatcher.close().catch(() => {});
    if (startedNow && !args.keep) {
      await registry.stop();
      console.log(`\ndemo: registry stopped (exit code ${code})`);
    } else {
      console.log(`\ndemo: registry left running at ${registry.url}; stop it with: bash scripts/with-node24 node --import tsx scripts/demo-registry.ts down`);
    }
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

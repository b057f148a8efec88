/**
 * A private containerd (Debian's package) for interop tests: its own root,
 * state and socket under a state dir, the CRI plugin off, stopped through its
 * pid file. Never touches a system containerd.
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from './tools.js';

const run = promisify(execFile);

export interface TestContainerd {
  stateDir: string;
  socket: string;
  /** Runs `ctr` against this containerd in `namespace` (default "lading-test"). */
  ctr(args: string[], options?: { namespace?: string; input?: string }): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`${what} did not happen within ${timeoutMs} ms; containerd log tail:\n${log.split('\n').slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startContainerd(): Promise<TestContainerd> {
  const hint = 'install it with `apt-get install containerd runc`';
  const containerd = requireTool('containerd', hint);
  const ctrBin = requireTool('ctr', hint);
  const stateDir = await mkdtemp(join(tmpdir(), 'lading-containerd-'));
  const socket = join(stateDir, 'containerd.sock');
  const config = join(stateDir, 'config.toml');
  await writeFile(
    config,
    `version = 2
root = "${stateDir}/root"
state = "${stateDir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
`,
  );
  const logFile = join(stateDir, 'containerd.log');
  const log = openSync(logFile, 'a');
  const child = spawn(containerd, ['--config', config], { stdio: ['ignore', log, log], detached: true });
  closeSync(log);
  child.unref();
  const pid = child.pid!;
  await writeFile(join(stateDir, 'containerd.pid'), `${pid}\n`);
  let exited = false;
  child.on('exit', () => (exited = true));
  await waitFor(() => existsSync(socket) || exited, 15_000, 'the containerd socket to appear', logFile);
  if (exited) throw new Error(`containerd exited at start; see ${logFile}`);

  const stop = async () => {
    const pidText = await readFile(join(stateDir, 'containerd.pid'), 'utf8').catch(() => '');
    const recorded = Number(pidText.trim());
    if (recorded > 0 && !exited) {
      process.kill(recorded, 'SIGTERM');
      await waitFor(() => exited, 15_000, 'containerd to stop', logFile).catch(() => process.kill(recorded, 'SIGKILL'));
    }
    // Unpacking mounts nothing that outlives a call, but be sure: unmount anything below our state dir, deepest first.
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((m): m is string => Boolean(m && m.startsWith(stateDir)))
      .sort((a, b) => b.length - a.length);
    for (const mount of mounts) await run('umount', ['-l', mount]).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
  };

  return {
    stateDir,
    socket,
    ctr: async (args, options = {}) => {
      const child = execFile(ctrBin, ['-a', socket, '-n', options.namespace ?? 'lading-test', ...args], { maxBuffer: 16 << 20 });
      if (options.input !== undefined) child.stdin?.end(options.input);
      return new Promise((resolve, reject) => {
        let stdout = '';
        let stderr = '';
        child.stdout?.on('data', (s) => (stdout += s));
        child.stderr?.on('data', (s) => (stderr += s));
        child.on('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`ctr ${args.join(' ')} exited ${code}: ${stderr}`))));
      });
    },
    stop,
  };
}

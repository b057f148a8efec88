// A real OCI registry for the tests (the independent oracle lading is checked against): Debian's docker-registry
// (distribution v2.8) run from a generated config in its own state dir.
//
// Safety rules: it listens on 127.0.0.1 only, everything it writes lives under
// its state dir, and it is stopped through the pid recorded in that state dir
// (checked against /proc/PID/cmdline), never by process name.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, Headers, fetch, type RequestInit, type Response } from 'undici';
import { stringify as toYaml } from 'yaml';
import { requireTool } from './tools.js';

export interface RegistryAuth {
  username: string;
  password: string;
}

export interface StartRegistryOptions {
  /** Turn on htpasswd (basic) auth with this one user. */
  auth?: RegistryAuth;
  /**
   * Turn on token (Bearer) auth: clients get a JWT from `realm`, signed by a key whose
   * certificate is in `rootCertBundle` (PEM). See token-server.ts.
   */
  tokenAuth?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Serve HTTPS with a server cert (SAN IP:127.0.0.1, DNS:localhost) signed by a fresh CA. */
  tls?: boolean;
  /** Where config, storage, logs, pid file and certs live. Default: a fresh mkdtemp `lading-registry-*` under os.tmpdir(). */
  stateDir?: string;
  /** Fixed port on 127.0.0.1. Default: a free port. A fixed port already in use is an error (PortInUseError). */
  port?: number;
  /** Keep the state dir on stop(). Default: false when we created the state dir, true when the caller gave one. */
  keepState?: boolean;
  /** Start the registry in its own session so it outlives this process (scripts). Default: false. */
  detached?: boolean;
  /** How long to wait for `/v2/` to answer. Default 20 s. */
  startTimeoutMs?: number;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT" (also for TLS: the cert carries SAN IP:127.0.0.1 and DNS:localhost). */
  host: string;
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT" (no trailing slash). */
  url: string;
  scheme: 'http' | 'https';
  port: number;
  pid: number;
  /** PEM of the CA that signed the server cert (tls only). */
  caFile?: string;
  /** A directory holding only `ca.crt`: what skopeo/podman take as --cert-dir (tls only). */
  certDir?: string;
  username?: string;
  password?: string;
  stateDir: string;
  /** The registry's filesystem storage root. */
  storageDir: string;
  /** The registry's stdout/stderr (access log included). */
  logFile: string;
  /** An undici Agent that trusts the CA (plain Agent for http). Closed by stop(). */
  dispatcher: Agent;
  /** fetch(url + path) through `dispatcher`, with basic auth when the registry has credentials (unless `auth: false`). */
  fetch(pathAndQuery: string, init?: RequestInit & { auth?: boolean }): Promise<Response>;
  /** Stop the registry (SIGTERM, then SIGKILL after 5 s), wait for it to exit, remove the state dir unless kept. Idempotent. */
  stop(): Promise<void>;
}

/** What a state dir records about the registry running from it (`registry.json`). */
export interface RegistryStateFile {
  pid: number;
  port: number;
  host: string;
  url: string;
  scheme: 'http' | 'https';
  caFile?: string;
  certDir?: string;
  username?: string;
  password?: string;
  configFile: string;
  startedAt: string;
}

export class PortInUseError extends Error {
  readonly port: number;
  constructor(port: number, detail?: string) {
    super(
      `port ${port} on 127.0.0.1 is already in use by another process${detail ? ` (${detail})` : ''}; ` +
        `stop that process or choose another port`,
    );
    this.name = 'PortInUseError';
    this.port = port;
  }
}

export const PID_FILE = 'registry.pid';
export const STATE_FILE = 'registry.json';
const CONFIG_FILE = 'config.yml';
const LOG_FILE = 'registry.log';

/** Registries started (not detached) by this process: killed if the process exits without stopping them. */
const liveChildren = new Map<number, { stateDir: string; removeState: boolean }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killLiveChildren);
  // A test runner ends a timed-out test file with SIGTERM, which skips 'exit' handlers:
  // stop our registries, then die of the signal as if we had not been listening
  // (unless someone else handles it).
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killLiveChildren();
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

function killLiveChildren(): void {
  for (const [pid, { stateDir, removeState }] of liveChildren) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    if (removeState) {
      try {
        rmSync(stateDir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  }
  liveChildren.clear();
}

/** Resolves the first free TCP port the kernel hands out on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when something already listens on 127.0.0.1:port (or binding it fails with EADDRINUSE). */
export async function isPortInUse(port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(true);
      else reject(err);
    });
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(false)));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped) counts as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
  } catch {
    /* no /proc: trust kill(0) */
  }
  return true;
}

/** Does `pid` run docker-registry with this state dir's config? (Guards against pid reuse.) */
function pidRunsConfig(pid: number, configFile: string): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return !existsSync('/proc/self'); // no procfs: cannot check, trust the pid file
  }
  return cmdline.split('\0').includes(configFile);
}

async function waitForExit(pid: number, child: ChildProcess | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) return true;
    if (!isAlive(pid)) return true;
    await delay(25);
  }
  return !isAlive(pid);
}

async function killAndWait(pid: number, child?: ChildProcess): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitForExit(pid, child, 5000)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitForExit(pid, child, 5000))) throw new Error(`registry pid ${pid} did not exit after SIGKILL`);
}

function readState(stateDir: string): RegistryStateFile | undefined {
  try {
    return JSON.parse(readFileSync(path.join(stateDir, STATE_FILE), 'utf8')) as RegistryStateFile;
  } catch {
    return undefined;
  }
}

function readPid(stateDir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path.join(stateDir, PID_FILE), 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid recorded in the state dir, if that process is alive and is the registry of this state dir. */
export function runningRegistryPid(stateDir: string): number | undefined {
  const dir = path.resolve(stateDir);
  const pid = readPid(dir);
  if (pid === undefined) return undefined;
  return pidRunsConfig(pid, path.join(dir, CONFIG_FILE)) ? pid : undefined;
}

/**
 * Stops the registry whose pid file is in `stateDir` (for scripts). Kills only
 * that pid, and only if it still runs this state dir's config. Removes the pid
 * file; removes the whole state dir when `removeState` is set. Returns whether
 * a running registry was stopped.
 */
export async function stopRegistryFromPidFile(stateDir: string, options: { removeState?: boolean } = {}): Promise<boolean> {
  const dir = path.resolve(stateDir);
  const pid = runningRegistryPid(dir);
  if (pid !== undefined) await killAndWait(pid);
  rmSync(path.join(dir, PID_FILE), { force: true });
  if (options.removeState) rmSync(dir, { recursive: true, force: true });
  return pid !== undefined;
}

function tailOf(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function makeDispatcher(caFile: string | undefined): Agent {
  return new Agent(caFile ? { connect: { ca: readFileSync(caFile, 'utf8') } } : {});
}

function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function makeHandle(
  state: RegistryStateFile,
  stateDir: string,
  stop: (dispatcher: Agent) => Promise<void>,
): TestRegistry {
  const dispatcher = makeDispatcher(state.caFile);
  let stopping: Promise<void> | undefined;
  const handle: TestRegistry = {
    host: state.host,
    url: state.url,
    scheme: state.scheme,
    port: state.port,
    pid: state.pid,
    stateDir,
    storageDir: path.join(stateDir, 'storage'),
    logFile: path.join(stateDir, LOG_FILE),
    dispatcher,
    async fetch(pathAndQuery, init = {}) {
      const { auth, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (auth !== false && state.username !== undefined && state.password !== undefined && !headers.has('authorization')) {
        headers.set('authorization', basicAuth(state.username, state.password));
      }
      return await fetch(`${state.url}${pathAndQuery}`, { ...rest, headers, dispatcher });
    },
    stop() {
      stopping ??= stop(dispatcher);
      return stopping;
    },
  };
  if (state.caFile !== undefined) handle.caFile = state.caFile;
  if (state.certDir !== undefined) handle.certDir = state.certDir;
  if (state.username !== undefined) handle.username = state.username;
  if (state.password !== undefined) handle.password = state.password;
  return handle;
}

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Makes tls/{ca,server}.{crt,key} and trust/ca.crt with openssl. */
export function makeCertificates(stateDir: string): { certFile: string; keyFile: string; caFile: string; certDir: string } {
  const openssl = requireTool('openssl');
  const tlsDir = path.join(stateDir, 'tls');
  const certDir = path.join(stateDir, 'trust');
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  mkdirSync(certDir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    openssl,
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=lading test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    tlsDir,
  );
  run(openssl, ['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], tlsDir);
  writeFileSync(
    path.join(tlsDir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  run(
    openssl,
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '30', '-out', 'server.crt', '-extfile', 'server.ext'],
    tlsDir,
  );
  const caFile = path.join(certDir, 'ca.crt');
  copyFileSync(path.join(tlsDir, 'ca.crt'), caFile);
  return { certFile: path.join(tlsDir, 'server.crt'), keyFile: path.join(tlsDir, 'server.key'), caFile, certDir };
}

function makeHtpasswd(stateDir: string, auth: RegistryAuth): string {
  const htpasswd = requireTool('htpasswd');
  const line = run(htpasswd, ['-Bbn', auth.username, auth.password], stateDir).trim();
  const file = path.join(stateDir, 'htpasswd');
  writeFileSync(file, `${line}\n`, { mode: 0o600 });
  return file;
}

/** Environment for the registry: without REGISTRY_* variables, which would override the config file. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

async function waitUntilReady(
  url: string,
  dispatcher: Agent,
  child: ChildProcess,
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before answering:\n${tailOf(logFile)}`);
    }
    try {
      const res = await fetch(`${url}/v2/`, { dispatcher, signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = String((err as Error & { cause?: unknown }).cause ?? err);
    }
    await delay(40);
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within ${timeoutMs} ms (${lastError}):\n${tailOf(logFile)}`);
}

/**
 * Starts Debian's docker-registry on 127.0.0.1 and resolves once `/v2/`
 * answers. Fails (never skips) when docker-registry, htpasswd or openssl is missing.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const bin = requireTool('docker-registry');
  const createdStateDir = options.stateDir === undefined;
  const stateDir = path.resolve(options.stateDir ?? (await mkdtemp(path.join(os.tmpdir(), 'lading-registry-'))));
  const removeState = !(options.keepState ?? !createdStateDir);
  try {
    return await startIn(bin, stateDir, options, removeState);
  } catch (err) {
    if (removeState) rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
}

async function startIn(bin: string, stateDir: string, options: StartRegistryOptions, removeState: boolean): Promise<TestRegistry> {
  mkdirSync(stateDir, { recursive: true });
  const configFile = path.join(stateDir, CONFIG_FILE);
  const already = runningRegistryPid(stateDir);
  if (already !== undefined) {
    throw new Error(`a registry (pid ${already}) is already running from ${stateDir}; use connectRegistry() or stop it first`);
  }
  if (options.port !== undefined && (await isPortInUse(options.port))) throw new PortInUseError(options.port);

  const storageDir = path.join(stateDir, 'storage');
  mkdirSync(storageDir, { recursive: true });
  const tls = options.tls ? makeCertificates(stateDir) : undefined;
  const htpasswdFile = options.auth ? makeHtpasswd(stateDir, options.auth) : undefined;
  const logFile = path.join(stateDir, LOG_FILE);

  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'info', formatter: 'text', accesslog: { disabled: false }, fields: { service: 'lading-test-registry' } },
      storage: {
        filesystem: { rootdirectory: storageDir },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: {
        addr: `127.0.0.1:${port}`,
        secret: randomBytes(16).toString('hex'),
        headers: { 'X-Content-Type-Options': ['nosniff'] },
        ...(tls ? { tls: { certificate: tls.certFile, key: tls.keyFile } } : {}),
      },
      ...(htpasswdFile ? { auth: { htpasswd: { realm: 'lading-test', path: htpasswdFile } } } : {}),
      ...(options.tokenAuth
        ? {
            auth: {
              token: {
                realm: options.tokenAuth.realm,
                service: options.tokenAuth.service,
                issuer: options.tokenAuth.issuer,
                rootcertbundle: options.tokenAuth.rootCertBundle,
              },
            },
          }
        : {}),
    };
    writeFileSync(configFile, toYaml(config));

    const logFd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(bin, ['serve', configFile], {
        cwd: stateDir,
        stdio: ['ignore', logFd, logFd],
        detached: options.detached ?? false,
        env: registryEnv(),
      });
    } finally {
      closeSync(logFd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      await new Promise((r) => child.once('error', r));
      throw new Error(`could not spawn ${bin}`);
    }
    child.on('error', () => {});
    if (options.detached) child.unref();
    else {
      installExitHook();
      liveChildren.set(pid, { stateDir, removeState });
    }
    writeFileSync(path.join(stateDir, PID_FILE), `${pid}\n`);

    const scheme = tls ? 'https' : 'http';
    const host = `127.0.0.1:${port}`;
    const state: RegistryStateFile = {
      pid,
      port,
      host,
      url: `${scheme}://${host}`,
      scheme,
      configFile,
      startedAt: new Date().toISOString(),
    };
    if (tls) {
      state.caFile = tls.caFile;
      state.certDir = tls.certDir;
    }
    if (options.auth) {
      state.username = options.auth.username;
      state.password = options.auth.password;
    }
    const probe = makeDispatcher(state.caFile);
    try {
      await waitUntilReady(state.url, probe, child, logFile, options.startTimeoutMs ?? 20_000);
    } catch (err) {
      await killAndWait(pid, child).catch(() => {});
      liveChildren.delete(pid);
      rmSync(path.join(stateDir, PID_FILE), { force: true });
      const inUse = /address already in use/i.test(tailOf(logFile, 5));
      if (inUse && options.port !== undefined) throw new PortInUseError(options.port, 'docker-registry could not bind it');
      if (inUse && attempt < attempts) continue;
      throw err;
    } finally {
      await probe.close();
    }
    writeFileSync(path.join(stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });

    return makeHandle(state, stateDir, async (dispatcher) => {
      await dispatcher.close().catch(() => {});
      await killAndWait(pid, child);
      liveChildren.delete(pid);
      rmSync(path.join(stateDir, PID_FILE), { force: true });
      if (removeState) rmSync(stateDir, { recursive: true, force: true });
    });
  }
}

/**
 * A handle on the registry already running from `stateDir` (started by another
 * process, e.g. a registry a script left running), or undefined when none runs or
 * it does not answer. Its stop() stops it through the pid file and keeps the state dir
 * unless `removeState`.
 */
export async function connectRegistry(stateDir: string, options: { removeState?: boolean } = {}): Promise<TestRegistry | undefined> {
  const dir = path.resolve(stateDir);
  const pid = runningRegistryPid(dir);
  const state = readState(dir);
  if (pid === undefined || state === undefined || state.pid !== pid) return undefined;
  const probe = makeDispatcher(state.caFile);
  try {
    const res = await fetch(`${state.url}/v2/`, { dispatcher: probe, signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
    if (res.status !== 200 && res.status !== 401) return undefined;
  } catch {
    return undefined;
  } finally {
    await probe.close();
  }
  return makeHandle(state, dir, async (dispatcher) => {
    await dispatcher.close().catch(() => {});
    await stopRegistryFromPidFile(dir, options.removeState ? { removeState: true } : {});
  });
}

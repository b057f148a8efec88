/**
 * Registry credentials from the files operators already have: containers'
 * auth.json (REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.config/containers/auth.json) and Docker's config.json ($DOCKER_CONFIG or
 * ~/.docker), including credential helpers. Secrets are never logged: errors
 * name the file, never its content.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AbortError, ExitCode } from '../errors.js';
import { DOCKER_HUB } from './reference.js';

export interface Credential {
  username: string;
  password: string;
  /** Where it came from, for error messages: a file path or `docker-credential-NAME`. */
  source: string;
}

export interface CredentialLookup {
  credential: Credential | undefined;
  /** Every source that was consulted, in order, for "which credential source was tried" hints. */
  tried: string[];
}

export interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export interface CredentialEnv {
  env: NodeJS.ProcessEnv;
  home: string;
}

export function defaultAuthFiles({ env, home }: CredentialEnv): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.DOCKER_CONFIG) files.push(join(env.DOCKER_CONFIG, 'config.json'));
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'containers', 'auth.json'));
  if (!env.DOCKER_CONFIG) files.push(join(home, '.docker', 'config.json'));
  return [...new Set(files)];
}

/** Keys an auth file may use for a registry: plain host, URL forms, Docker Hub's legacy names. */
function normaliseKey(key: string): string {
  let k = key.trim().replace(/^https?:\/\//, '');
  const slash = k.indexOf('/');
  // Docker keeps "https://index.docker.io/v1/"; containers allows "host/namespace" scopes.
  if (slash !== -1 && /^v[12]\/?$/.test(k.slice(slash + 1))) k = k.slice(0, slash);
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') k = DOCKER_HUB;
  return k.replace(/\/+$/, '');
}

/** Most specific key first: `host/ns/repo`, then `host/ns`, then `host`. */
function candidateKeys(registry: string, repository: string | undefined): string[] {
  const keys: string[] = [];
  if (repository) {
    const parts = repository.split('/');
    for (let n = parts.length; n > 0; n--) keys.push(`${registry}/${parts.slice(0, n).join('/')}`);
  }
  keys.push(registry);
  return keys;
}

async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AbortError(`cannot read credentials file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, {
      exitCode: ExitCode.auth,
      hint: 'Check its permissions, or point REGISTRY_AUTH_FILE / DOCKER_CONFIG elsewhere.',
    });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    return parsed as AuthFile;
  } catch {
    throw new AbortError(`credentials file ${path} is not valid JSON`, {
      exitCode: ExitCode.auth,
      hint: 'Fix or remove it; lading reads the same format as docker login and podman login write.',
    });
  }
}

function decodeAuth(entry: NonNullable<AuthFile['auths']>[string], source: string): Credential | undefined {
  if (entry.username && entry.password) return { username: entry.username, password: entry.password, source };
  if (!entry.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) {
    throw new AbortError(`credentials file ${source} has an "auth" entry that is not base64 of user:password`, {
      exitCode: ExitCode.auth,
    });
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source };
}

/** Runs `docker-credential-NAME get` with the registry on stdin, as Docker does. */
async function fromHelper(helper: string, registry: string): Promise<Credential | undefined> {
  const program = `docker-credential-${helper}`;
  const serverUrl = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new AbortError(`credential helper ${program} could not be run (${error.code ?? error.message})`, {
          exitCode: ExitCode.auth,
          hint: `Install ${program}, or remove "${helper}" from credHelpers/credsStore in your Docker config.`,
        }),
      );
    });
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined); // "credentials not found" exits non-zero
      try {
        const parsed = JSON.parse(Buffer.concat(out).toString('utf8')) as { Username?: string; Secret?: string };
        if (!parsed.Username || !parsed.Secret) return resolve(undefined);
        resolve({ username: parsed.Username, password: parsed.Secret, source: program });
      } catch {
        reject(new AbortError(`credential helper ${program} answered with something that is not JSON`, { exitCode: ExitCode.auth }));
      }
    });
    child.stdin.end(serverUrl);
  });
}

/**
 * The credential an auth document (auth.json / config.json / a dockerconfigjson Secret's content) holds for a
 * registry, most specific key first. `source` names where the document came from, for messages.
 */
export function credentialInDocument(auth: AuthFile, registry: string, repository: string | undefined, source: string): Credential | undefined {
  const entries = new Map<string, NonNullable<AuthFile['auths']>[string]>();
  for (const [key, value] of Object.entries(auth.auths ?? {})) entries.set(normaliseKey(key), value);
  for (const key of candidateKeys(registry, repository)) {
    const entry = entries.get(key);
    if (entry) {
      const credential = decodeAuth(entry, source);
      if (credential) return credential;
    }
  }
  return undefined;
}

export async function findCredential(
  registry: string,
  repository: string | undefined,
  credentialEnv: CredentialEnv = { env: process.env, home: homedir() },
  files: string[] = defaultAuthFiles(credentialEnv),
): Promise<CredentialLookup> {
  const tried: string[] = [];
  for (const file of files) {
    tried.push(file);
    const auth = await readAuthFile(file);
    if (!auth) continue;
    const found = credentialInDocument(auth, registry, repository, file);
    if (found) return { credential: found, tried };
    const helper = auth.credHelpers?.[registry] ?? auth.credsStore;
    if (helper) {
      tried.push(`docker-credential-${helper}`);
      const credential = await fromHelper(helper, registry);
      if (credential) return { credential, tried };
    }
  }
  return { credential: undefined, tried };
}

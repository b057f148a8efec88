/**
 * A client for the OCI distribution API (pull side): scheme selection, auth
 * challenges (anonymous, Basic, Bearer token flow), redirects, retries with
 * backoff, and streamed blob bodies. It hashes what it receives; callers never
 * trust a registry's Docker-Content-Digest header.
 */
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { AbortError, ExitCode, RegistryError } from '../errors.js';
import { parseAuthChallenges, type AuthChallenge } from './auth-challenge.js';
import type { Credential, CredentialLookup } from './credentials.js';
import { sha256Digest } from './digest.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { isLoopbackRegistry, registryApiHost } from './reference.js';
import { DEFAULT_RETRY, backoffDelay, isTransientNetworkError, parseRetryAfter, sleep, type RetryPolicy } from './retry.js';

export interface RegistryClientOptions {
  /** Hosts allowed plain HTTP and unverified TLS (`--insecure-registry`). */
  insecureRegistries?: readonly string[];
  /** Extra PEM CA certificates trusted besides the system roots (`--ca-file`). */
  caCertificates?: readonly string[];
  credentialLookup?: (registry: string, repository: string) => Promise<CredentialLookup>;
  retry?: RetryPolicy;
  signal?: AbortSignal;
  userAgent?: string;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_REDIRECTS = 5;

type Scheme = 'https' | 'http';

interface AuthState {
  header: string | undefined;
  expiresAt: number;
}

export class RegistryClient {
  readonly #secure: Agent;
  readonly #insecure: Agent;
  readonly #insecureHosts: Set<string>;
  readonly #schemes = new Map<string, Promise<Scheme>>();
  readonly #auth = new Map<string, AuthState>();
  readonly #credentials = new Map<string, Promise<CredentialLookup>>();
  readonly #retry: RetryPolicy;
  readonly #options: RegistryClientOptions;

  constructor(options: RegistryClientOptions = {}) {
    this.#options = options;
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#insecureHosts = new Set(options.insecureRegistries ?? []);
    const ca = options.caCertificates?.length ? [...rootCertificates, ...options.caCertificates] : undefined;
    const common = { keepAliveTimeout: 10_000, headersTimeout: 60_000, bodyTimeout: 120_000, connectTimeout: 15_000 };
    this.#secure = new Agent({ ...common, connect: ca ? { ca } : {} });
    this.#insecure = new Agent({ ...common, connect: { rejectUnauthorized: false } });
  }

  async close(): Promise<void> {
    await Promise.all([this.#secure.close(), this.#insecure.close()]);
  }

  /** GETs a manifest or index by tag or digest; verifies the digest when one was asked for. */
  async getManifest(registry: string, repository: string, reference: string): Promise<FetchedManifest> {
    const subject = `${registry}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    return this.#withRetry(subject, async () => {
      const res = await this.#send(registry, repository, `/v2/${repository}/manifests/${reference}`, {
        accept: MANIFEST_ACCEPT,
      });
      if (res.statusCode !== 200) throw await this.#statusError(res, subject, 'manifest');
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > MAX_MANIFEST_BYTES) {
        res.body.destroy();
        throw new RegistryError(`${subject}: manifest of ${declared} bytes is larger than lading accepts (4 MiB)`);
      }
      const bytes = Buffer.from(await res.body.arrayBuffer());
      if (bytes.length > MAX_MANIFEST_BYTES) {
        throw new RegistryError(`${subject}: manifest is larger than lading accepts (4 MiB)`);
      }
      const digest = sha256Digest(bytes);
      if (reference.startsWith('sha256:') && digest !== reference) {
        throw new AbortError(`${subject}: the registry sent a manifest whose digest is ${digest}`, {
          exitCode: ExitCode.integrity,
          hint: 'The registry or a proxy in between altered the content; try another mirror.',
        });
      }
      let mediaType = headerValue(res.headers['content-type'])?.split(';')[0]?.trim() ?? '';
      try {
        const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
        if (typeof parsed.mediaType === 'string') mediaType = parsed.mediaType;
        else if (Array.isArray(parsed.manifests)) mediaType = 'application/vnd.oci.image.index.v1+json';
      } catch {
        throw new RegistryError(`${subject}: the manifest is not valid JSON`);
      }
      return { bytes, mediaType, digest };
    });
  }

  /**
   * Opens a blob's body as a stream. The caller hashes it; a retry after a
   * broken stream is the caller's call (see BlobCache.fetch), since only it
   * knows how many bytes it already counted.
   */
  async openBlob(registry: string, repository: string, digest: string): Promise<Readable> {
    const subject = `${registry}/${repository}@${digest}`;
    return this.#withRetry(subject, async () => {
      const res = await this.#send(registry, repository, `/v2/${repository}/blobs/${digest}`, {});
      if (res.statusCode !== 200) throw await this.#statusError(res, subject, 'blob');
      return res.body;
    });
  }

  /** Runs an operation with the client's retry policy (also used for whole-blob retries). */
  async withRetry<T>(subject: string, operation: () => Promise<T>): Promise<T> {
    return this.#withRetry(subject, operation);
  }

  async #withRetry<T>(subject: string, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        const last = attempt + 1 >= this.#retry.attempts;
        const retryable =
          (error instanceof RegistryError && error.retryable) || (!(error instanceof AbortError) && isTransientNetworkError(error));
        if (!retryable || last || this.#options.signal?.aborted) throw this.#toAbort(error, subject);
        const retryAfter = error instanceof RegistryError ? error.retryAfterMs : undefined;
        await sleep(backoffDelay(this.#retry, attempt, retryAfter), this.#options.signal);
      }
    }
  }

  #toAbort(error: unknown, subject: string): unknown {
    if (error instanceof AbortError || this.#options.signal?.aborted) return error;
    const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
    const message = (error as Error).message ?? String(error);
    if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
      return new RegistryError(`${subject}: TLS certificate not trusted (${code})`, {
        cause: error,
        hint: 'Pass the registry CA with --ca-file, or, for a lab registry only, --insecure-registry HOST.',
      });
    }
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
      return new RegistryError(`${subject}: cannot reach the registry (${code})`, {
        cause: error,
        hint: 'Check the registry host name and port, and that this machine can reach it.',
      });
    }
    return new RegistryError(`${subject}: ${message}${code ? ` (${code})` : ''}`, { cause: error });
  }

  /** Sends a GET with auth and redirects handled; the response body is the caller's to consume. */
  async #send(
    registry: string,
    repository: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<Dispatcher.ResponseData> {
    const base = await this.#baseUrl(registry);
    const authKey = `${registry}|${repository}`;
    let url = new URL(path, base);
    let sendAuth = true;
    let authenticated = false;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const auth = sendAuth ? this.#currentAuth(authKey) : undefined;
      const res = await request(url, {
        method: 'GET',
        dispatcher: this.#dispatcherFor(registry),
        headers: { ...headers, 'user-agent': this.#options.userAgent ?? 'lading', ...(auth ? { authorization: auth } : {}) },
        signal: this.#options.signal ?? null,
        highWaterMark: 256 << 10,
      });
      if (res.statusCode === 401 && sendAuth && !authenticated) {
        await res.body.dump();
        const challenges = parseAuthChallenges(res.headers['www-authenticate']);
        await this.#authenticate(registry, repository, authKey, challenges);
        authenticated = true;
        hop--;
        continue;
      }
      if (res.statusCode === 401 && authenticated) {
        await res.body.dump();
        const { credential, tried } = await this.#lookupCredential(registry, repository);
        throw credential ? credentialsRefused(registry, repository, credential) : authRequired(registry, repository, tried);
      }
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && res.headers.location) {
        await res.body.dump();
        const next = new URL(headerValue(res.headers.location)!, url);
        // Credentials never follow a redirect to another host (blob storage, CDN).
        if (next.host !== url.host) sendAuth = false;
        url = next;
        continue;
      }
      return res;
    }
    throw new RegistryError(`${registry}${path}: too many redirects`);
  }

  #currentAuth(key: string): string | undefined {
    const state = this.#auth.get(key);
    if (!state) return undefined;
    if (state.expiresAt < Date.now()) {
      this.#auth.delete(key);
      return undefined;
    }
    return state.header;
  }

  async #lookupCredential(registry: string, repository: string): Promise<CredentialLookup> {
    const lookup = this.#options.credentialLookup;
    if (!lookup) return { credential: undefined, tried: [] };
    const key = `${registry}|${repository}`;
    let pending = this.#credentials.get(key);
    if (!pending) {
      pending = lookup(registry, repository);
      this.#credentials.set(key, pending);
    }
    return pending;
  }

  async #authenticate(registry: string, repository: string, key: string, challenges: AuthChallenge[]): Promise<void> {
    const { credential, tried } = await this.#lookupCredential(registry, repository);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer?.params.realm) {
      const token = await this.#fetchToken(registry, repository, bearer, credential, tried);
      this.#auth.set(key, { header: `Bearer ${token.token}`, expiresAt: Date.now() + token.ttlMs });
      return;
    }
    if (basic) {
      if (!credential) throw authRequired(registry, repository, tried);
      const encoded = Buffer.from(`${credential.username}:${credential.password}`).toString('base64');
      this.#auth.set(key, { header: `Basic ${encoded}`, expiresAt: Number.POSITIVE_INFINITY });
      return;
    }
    throw new RegistryError(`${registry}: answered 401 without a usable WWW-Authenticate challenge`, { exitCode: ExitCode.auth });
  }

  async #fetchToken(
    registry: string,
    repository: string,
    challenge: AuthChallenge,
    credential: Credential | undefined,
    tried: string[],
  ): Promise<{ token: string; ttlMs: number }> {
    const realm = new URL(challenge.params.realm!);
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.#allowsHttp(realm.host))) {
      throw new RegistryError(`${registry}: token realm ${realm.origin} is not HTTPS`, { exitCode: ExitCode.auth });
    }
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
    const headers: Record<string, string> = { 'user-agent': this.#options.userAgent ?? 'lading' };
    if (credential) {
      headers.authorization = `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
    }
    const res = await request(realm, {
      method: 'GET',
      headers,
      dispatcher: this.#dispatcherFor(realm.host),
      signal: this.#options.signal ?? null,
    });
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      if (credential) throw credentialsRefused(registry, repository, credential);
      throw authRequired(registry, repository, tried);
    }
    if (res.statusCode !== 200) throw await this.#statusError(res, `${registry} token service ${realm.origin}`, 'token');
    const body = (await res.body.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`${registry}: the token service answered without a token`, { exitCode: ExitCode.auth });
    const ttl = Math.max(30, Number(body.expires_in ?? 60) - 10);
    return { token, ttlMs: ttl * 1000 };
  }

  #allowsHttp(registry: string): boolean {
    return this.#insecureHosts.has(registry) || isLoopbackRegistry(registry);
  }

  #dispatcherFor(registry: string): Agent {
    return this.#insecureHosts.has(registry) ? this.#insecure : this.#secure;
  }

  /** https unless the host may speak plain HTTP and does not speak TLS (Docker's rule for loopback and insecure registries). */
  #baseUrl(registry: string): Promise<string> {
    const host = registryApiHost(registry);
    let pending = this.#schemes.get(host);
    if (!pending) {
      pending = this.#allowsHttp(registry) ? this.#probeScheme(registry, host) : Promise.resolve('https');
      this.#schemes.set(host, pending);
      // A failed probe (registry down) must not be remembered.
      pending.catch(() => this.#schemes.delete(host));
    }
    return pending.then((scheme) => `${scheme}://${host}`);
  }

  async #probeScheme(registry: string, host: string): Promise<Scheme> {
    try {
      const res = await request(`https://${host}/v2/`, {
        method: 'GET',
        dispatcher: this.#dispatcherFor(registry),
        signal: this.#options.signal ?? null,
        headersTimeout: 10_000,
      });
      await res.body.dump();
      return 'https';
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      const message = (error as Error).message ?? '';
      if (/EPROTO|WRONG_VERSION|ECONNRESET|UND_ERR_SOCKET|SOCKET/.test(code) || /wrong version number|packet length/i.test(message)) {
        return 'http';
      }
      throw error;
    }
  }

  async #statusError(res: Dispatcher.ResponseData, subject: string, what: 'manifest' | 'blob' | 'token'): Promise<RegistryError> {
    const detail = await readErrorBody(res);
    const status = res.statusCode;
    if (status === 404) {
      const unknownRepo = detail.codes.includes('NAME_UNKNOWN');
      return new RegistryError(
        unknownRepo ? `${subject}: repository not found (404 NAME_UNKNOWN)` : `${subject}: ${what} not found (404${detail.codes[0] ? ` ${detail.codes[0]}` : ''})`,
        { status, hint: what === 'manifest' ? 'Check the tag or digest in the spec; the registry does not have it.' : undefined },
      );
    }
    if (status === 401 || status === 403) {
      return new RegistryError(`${subject}: access denied (${status}${detail.codes[0] ? ` ${detail.codes[0]}` : ''})`, {
        status,
        exitCode: ExitCode.auth,
        hint: 'Log in with docker login or podman login, or check that the account may pull this repository.',
      });
    }
    const retryable = status === 429 || status === 408 || status >= 500;
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    return new RegistryError(`${subject}: registry answered ${status}${detail.text ? `: ${detail.text}` : ''}`, {
      status,
      retryable,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readErrorBody(res: Dispatcher.ResponseData): Promise<{ codes: string[]; text: string }> {
  try {
    const text = (await res.body.text()).slice(0, 2000);
    try {
      const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
      const errors = parsed.errors ?? [];
      return {
        codes: errors.map((e) => e.code ?? '').filter(Boolean),
        text: errors.map((e) => [e.code, e.message].filter(Boolean).join(' ')).join('; ').slice(0, 300),
      };
    } catch {
      return { codes: [], text: text.replace(/\s+/g, ' ').trim().slice(0, 200) };
    }
  } catch {
    return { codes: [], text: '' };
  }
}

function authRequired(registry: string, repository: string, tried: string[]): RegistryError {
  return new RegistryError(`${registry}/${repository}: the registry requires authentication and no credentials were found`, {
    status: 401,
    exitCode: ExitCode.auth,
    hint: `Looked in: ${tried.length ? tried.join(', ') : 'no credential sources'}. Run docker login ${registry} or podman login ${registry}, or set REGISTRY_AUTH_FILE.`,
  });
}

function credentialsRefused(registry: string, repository: string, credential: Credential): RegistryError {
  return new RegistryError(`${registry}/${repository}: the registry refused the credentials for user "${credential.username}" from ${credential.source}`, {
    status: 401,
    exitCode: ExitCode.auth,
    hint: `Log in again (docker login ${registry} / podman login ${registry}) or fix ${credential.source}.`,
  });
}

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
import { JsonLimitError, parseBoundedJson } from '../util/bounded-json.js';
import { printable } from '../util/printable.js';
import { parseAuthChallenges, type AuthChallenge } from './auth-challenge.js';
import type { Credential, CredentialLookup } from './credentials.js';
import { sha256Digest } from './digest.js';
import {
  DEFAULT_BLOB_DEADLINE,
  MAX_MANIFEST_BYTES,
  MAX_TOKEN_BODY_BYTES,
  blobDeadlineMs,
  deadlineError,
  readBounded,
  readErrorDetail,
  withDeadline,
  type BlobDeadline,
} from './http-limits.js';
import { MANIFEST_ACCEPT, MediaType } from './media-types.js';
import { decideRedirect } from './redirects.js';
import { isLoopbackRegistry, registryApiHost } from './reference.js';
import { DEFAULT_RETRY, backoffDelay, isTransientNetworkError, parseRetryAfter, sleep, type RetryPolicy } from './retry.js';
import { SHA256_DIGEST, isSize } from './validate.js';

export interface RegistryClientOptions {
  /** Hosts allowed plain HTTP and unverified TLS (`--insecure-registry`). */
  insecureRegistries?: readonly string[];
  /** Extra PEM CA certificates trusted besides the system roots (`--ca-file`). */
  caCertificates?: readonly string[];
  credentialLookup?: (registry: string, repository: string) => Promise<CredentialLookup>;
  retry?: RetryPolicy;
  /** How long a blob body may take: a grace plus its size at a minimum rate. */
  blobDeadline?: BlobDeadline;
  signal?: AbortSignal;
  userAgent?: string;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  /** The bytes parsed (within limits), not yet validated: resolve checks them against the OCI rules. */
  content: unknown;
}

const MAX_REDIRECTS = 5;
/** Generous for a 10,000-entry index or a 1000-layer manifest; bounds what parsing may allocate. */
const MANIFEST_JSON_LIMITS = { maxBytes: MAX_MANIFEST_BYTES, maxValues: 250_000, maxDepth: 64 };
const TOKEN_JSON_LIMITS = { maxBytes: MAX_TOKEN_BODY_BYTES, maxValues: 10_000, maxDepth: 16 };
/** What an Authorization header may carry: visible ASCII, no spaces or line breaks. */
const BEARER_TOKEN = /^[\x21-\x7e]{1,16384}$/;

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
    // HTTP/1.1, parallel connections: undici 8 would speak HTTP/2 to registries that offer it, and a body
    // cut off mid-stream there can leave Node's HTTP/2 session spinning (see api-proxy.ts).
    const common = { keepAliveTimeout: 10_000, headersTimeout: 60_000, bodyTimeout: 120_000, connectTimeout: 15_000, allowH2: false };
    this.#secure = new Agent({ ...common, connect: ca ? { ca } : {} });
    this.#insecure = new Agent({ ...common, connect: { rejectUnauthorized: false } });
  }

  async close(): Promise<void> {
    await Promise.all([this.#secure.close(), this.#insecure.close()]);
  }

  /** GETs a manifest or index by tag or digest; verifies the digest when one was asked for. */
  async getManifest(registry: string, repository: string, reference: string): Promise<FetchedManifest> {
    const byDigest = reference.includes(':');
    const subject = `${registry}/${repository}${byDigest ? '@' : ':'}${printable(reference)}`;
    if (byDigest && !SHA256_DIGEST.test(reference)) throw new RegistryError(`${subject}: not a sha256 digest (sha256: and 64 lowercase hex digits)`);
    return this.#withRetry(subject, async () => {
      const res = await this.#send(subject, registry, repository, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
      if (res.statusCode !== 200) throw await this.#statusError(res, subject, 'manifest');
      const bytes = await readBounded(res.body, res.headers['content-length'], MAX_MANIFEST_BYTES, (declared) =>
        new RegistryError(`${subject}: manifest of ${declared ?? 'more than 4 MiB'}${declared ? ' bytes' : ''} is larger than lading accepts (4 MiB)`),
      );
      const digest = sha256Digest(bytes);
      if (byDigest && digest !== reference) {
        throw new AbortError(`${subject}: the registry sent a manifest whose digest is ${digest}`, {
          exitCode: ExitCode.integrity,
          hint: 'The registry or a proxy in between altered the content; try another mirror.',
        });
      }
      let content: unknown;
      try {
        content = parseBoundedJson(bytes, MANIFEST_JSON_LIMITS);
      } catch (error) {
        const why = error instanceof JsonLimitError ? error.reason : 'not valid JSON';
        throw new RegistryError(`${subject}: the manifest is not acceptable JSON (${why})`);
      }
      return { bytes, mediaType: manifestMediaType(content, res.headers['content-type']), digest, content };
    });
  }

  /**
   * Opens a blob's body as a stream. The caller hashes it; a retry after a
   * broken stream is the caller's call (see BlobCache.fetch), since only it
   * knows how many bytes it already counted.
   */
  async openBlob(registry: string, repository: string, digest: string, size: number): Promise<Readable> {
    const subject = `${registry}/${repository}@${printable(digest)}`;
    // Descriptors are validated when resolved; this guards the URL path against any other caller.
    if (!SHA256_DIGEST.test(digest)) throw new RegistryError(`${subject}: not a sha256 digest (sha256: and 64 lowercase hex digits)`);
    if (!isSize(size)) throw new RegistryError(`${subject}: the blob has no valid size`);
    const deadline = this.#options.blobDeadline ?? DEFAULT_BLOB_DEADLINE;
    return this.#withRetry(subject, async () => {
      const res = await this.#send(subject, registry, repository, `/v2/${repository}/blobs/${digest}`, {});
      if (res.statusCode !== 200) throw await this.#statusError(res, subject, 'blob');
      return withDeadline(res.body, blobDeadlineMs(size, deadline), (received, elapsedMs) =>
        deadlineError(subject, size, received, elapsedMs, deadline),
      );
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
    const message = printable(String((error as Error).message ?? error));
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
    subject: string,
    registry: string,
    repository: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<Dispatcher.ResponseData> {
    const base = await this.#baseUrl(registry);
    const authKey = `${registry}|${repository}`;
    let url = new URL(path, base);
    const registryOrigin = url.origin;
    let sendAuth = true;
    let authenticated = false;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const auth = sendAuth ? this.#currentAuth(authKey) : undefined;
      const res = await request(url, {
        method: 'GET',
        // Unverified TLS (--insecure-registry) is for the registry named, not for wherever it redirects to.
        dispatcher: this.#dispatcherFor(url.origin === registryOrigin ? registry : url.host),
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
        const decision = decideRedirect(url, headerValue(res.headers.location)!, (host) => this.#allowsHttp(host));
        if (!decision.follow) {
          throw new RegistryError(`${subject}: refused ${decision.reason}`, {
            hint: 'A registry may send lading to plain HTTP only for hosts named with --insecure-registry.',
          });
        }
        // Credentials go to the origin they were meant for only (not a CDN, another port or plain HTTP).
        if (!decision.keepAuth) sendAuth = false;
        url = decision.url;
        continue;
      }
      return res;
    }
    throw new RegistryError(`${subject}: more than ${MAX_REDIRECTS} redirects`);
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
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm!);
    } catch {
      throw new RegistryError(`${registry}: the token realm "${printable(challenge.params.realm!.slice(0, 200))}" is not a URL`, { exitCode: ExitCode.auth });
    }
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
    const service = `${registry}/${repository}: the token service ${realm.origin}`;
    const bytes = await readBounded(res.body, res.headers['content-length'], MAX_TOKEN_BODY_BYTES, () => new RegistryError(`${service} sent more than 1 MiB`));
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown } | null;
    try {
      body = parseBoundedJson(bytes, TOKEN_JSON_LIMITS) as typeof body;
    } catch (error) {
      throw new RegistryError(`${service} sent ${error instanceof JsonLimitError ? `unacceptable JSON (${error.reason})` : 'something that is not JSON'}`);
    }
    const token = body?.token ?? body?.access_token;
    if (!token) throw new RegistryError(`${service} answered without a token`, { exitCode: ExitCode.auth });
    if (typeof token !== 'string' || !BEARER_TOKEN.test(token)) throw new RegistryError(`${service} sent a token that cannot go into a header`);
    const expiresIn = Number(body?.expires_in ?? 60);
    const ttl = Math.max(30, (Number.isFinite(expiresIn) ? Math.min(expiresIn, 86_400) : 60) - 10);
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
    const detail = await readErrorDetail(res.body);
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

/** The parsed mediaType field when it has one, else an index by its shape, else the Content-Type header. */
function manifestMediaType(content: unknown, contentType: string | string[] | undefined): string {
  const fields = typeof content === 'object' && content !== null ? (content as { mediaType?: unknown; manifests?: unknown }) : {};
  if (typeof fields.mediaType === 'string') return fields.mediaType;
  if (Array.isArray(fields.manifests)) return MediaType.ociIndex;
  return headerValue(contentType)?.split(';')[0]?.trim() ?? '';
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

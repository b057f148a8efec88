/**
 * A registry in the cluster reached through the API server's `services/proxy`
 * subresource: no port-forward, no NodePort, no connection from the operator's
 * machine to a node (k8scr's way). The generated client buffers proxy bodies
 * as strings, so requests go out with undici under the kubeconfig's own TLS
 * identity and headers, bodies streamed both ways.
 *
 * The API server rewrites a Location header that names the backend into its
 * own proxy URL; `locate` accepts either form and turns it back into the
 * `/v2/...` path the pusher speaks.
 */
import { request } from 'undici';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiServerHttp } from '../cluster/api-http.js';
import { RegistryError } from '../errors.js';
import { printable } from '../util/printable.js';
import { trace } from '../util/trace.js';
import type { PushRequest, PushResponse, PushTransport } from './transport.js';

export interface ServiceProxyTarget {
  namespace: string;
  service: string;
  /** The Service's port (number or name). */
  port: number | string;
  /** Sent with every request (never logged), e.g. the push gate's token. */
  headers?: Record<string, string>;
}

/** The API path prefix that proxies to a Service's port. */
export function serviceProxyPrefix(target: ServiceProxyTarget): string {
  return `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/services/http:${encodeURIComponent(target.service)}:${encodeURIComponent(String(target.port))}/proxy`;
}

export class ApiProxyTransport implements PushTransport {
  readonly #http: ApiServerHttp;
  readonly #server: URL;
  readonly #prefix: string;
  readonly #headers: Record<string, string>;

  constructor(kc: KubeConfig, server: string, target: ServiceProxyTarget) {
    this.#http = new ApiServerHttp(kc);
    this.#server = new URL(server);
    this.#prefix = `${this.#server.pathname.replace(/\/+$/, '')}${serviceProxyPrefix(target)}`;
    this.#headers = target.headers ?? {};
    this.name = `${target.service}.${target.namespace} (through the API server)`;
  }

  readonly name: string;

  async send(req: PushRequest): Promise<PushResponse> {
    const { dispatcher, headers } = await this.#http.prepare();
    const url = new URL(`${this.#prefix}${req.path}`, this.#server);
    const what = `${req.method} ${req.path.split('?')[0]}`;
    trace(`push: ${what} …`);
    try {
      const res = await request(url, {
        method: req.method,
        headers: { ...headers, ...this.#headers, ...(req.headers ?? {}) },
        body: req.body ?? null,
        signal: req.signal ?? null,
        dispatcher,
      });
      trace(`push: ${what} answered ${res.statusCode}`);
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (error) {
      trace(`push: ${what} failed: ${(error as Error).name}: ${(error as Error).message}`);
      throw error;
    }
  }

  locate(location: string): string {
    const url = new URL(location, new URL(`${this.#prefix}/`, this.#server));
    let path = url.pathname;
    // Rewritten by the API server: its own origin and the proxy prefix.
    if (url.origin === this.#server.origin && path.startsWith(`${this.#prefix}/`)) path = path.slice(this.#prefix.length);
    if (!path.startsWith('/v2/')) {
      throw new RegistryError(`${this.name}: the registry sent an upload location elsewhere (${printable(location.slice(0, 200))})`);
    }
    return `${path}${url.search}`;
  }

  /** Ends every connection at once (see ApiServerHttp.close). */
  async close(): Promise<void> {
    trace('push: closing the connections to the API server');
    await this.#http.close();
    trace('push: connections closed');
  }
}

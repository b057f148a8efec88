/**
 * Plain HTTP requests to the API server (its proxy subresources) with undici
 * under the kubeconfig's own TLS identity and headers, bodies streamed both
 * ways: the generated client buffers proxy bodies as strings.
 */
import { Agent, type Dispatcher } from 'undici';
import type * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export class ApiServerHttp {
  readonly #kc: KubeConfig;
  #dispatcher: Agent | undefined;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  /** The dispatcher, and the kubeconfig's headers, applied per request: exec plugins and token files may rotate them. */
  async prepare(): Promise<{ dispatcher: Dispatcher; headers: Record<string, string> }> {
    const options: https.RequestOptions = { headers: {} };
    await this.#kc.applyToHTTPSOptions(options);
    this.#dispatcher ??= new Agent({
      connect: {
        ...(options.ca ? { ca: options.ca as string | Buffer } : {}),
        ...(options.cert ? { cert: options.cert as string | Buffer } : {}),
        ...(options.key ? { key: options.key as string | Buffer } : {}),
        ...(options.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
        ...(options.servername ? { servername: options.servername } : {}),
      },
      // HTTP/1.1 only. undici 8 speaks HTTP/2 to an API server that offers it, and an upload cut off
      // mid-body there (Ctrl-C) left Node's HTTP/2 session copying into its outgoing buffer without end:
      // gigabytes a second until the kernel's OOM killer stepped in (measured: 2.5 GB in 7 s, 3 runs of 4).
      allowH2: false,
      // Bodies flow for as long as they need; callers bound a stall themselves.
      bodyTimeout: 0,
      headersTimeout: 120_000,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    return { dispatcher: this.#dispatcher, headers };
  }

  /**
   * Ends every connection at once. undici's close() waits for requests still under way, and one whose
   * body upload was cut off by Ctrl-C or a dropped connection may never finish: the run would not end.
   */
  async close(): Promise<void> {
    await this.#dispatcher?.destroy();
  }
}

/**
 * Authorization headers for the bundle's mirror endpoints, from --mirror-auth
 * (a file) or --mirror-auth-secret (a kubernetes.io/dockerconfigjson Secret).
 * The credentials are never printed.
 */
import { readFile } from 'node:fs/promises';
import { AbortError, ExitCode } from '../errors.js';
import { api, type ClusterConnection } from '../cluster/kube.js';
import { credentialInDocument, type AuthFile } from '../oci/credentials.js';
import type { MirrorAuth } from '../config/mirrors.js';
import type { BundleMetadata } from '../bundle/layout.js';

export interface MirrorAuthSource {
  file?: string;
  /** NAME (in `namespace`) or NAMESPACE/NAME. */
  secret?: string;
  namespace: string;
  conn: ClusterConnection;
}

async function readDocument(source: MirrorAuthSource): Promise<{ document: AuthFile; from: string }> {
  if (source.file) {
    try {
      return { document: JSON.parse(await readFile(source.file, 'utf8')) as AuthFile, from: source.file };
    } catch (error) {
      throw new AbortError(`--mirror-auth ${source.file}: cannot read it as JSON (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})`, { exitCode: ExitCode.usage });
    }
  }
  const secret = source.secret!;
  const [namespace, name] = secret.includes('/') ? secret.split('/', 2) : [source.namespace, secret];
  const from = `Secret ${namespace}/${name}`;
  const found = await api(`read ${from}`, () => source.conn.core.readNamespacedSecret({ namespace: namespace!, name: name! }));
  const data = found.data?.['.dockerconfigjson'];
  if (found.type !== 'kubernetes.io/dockerconfigjson' || !data) {
    throw new AbortError(`${from} is not a kubernetes.io/dockerconfigjson Secret`, {
      exitCode: ExitCode.usage,
      hint: 'Create it with kubectl create secret docker-registry NAME --docker-server=HOST --docker-username=... --docker-password=...',
    });
  }
  return { document: JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as AuthFile, from };
}

/** Undefined when neither source is given; refused when the source has nothing for any mirror. */
export async function loadMirrorAuth(source: MirrorAuthSource, mirrors: NonNullable<BundleMetadata['mirrors']>): Promise<MirrorAuth | undefined> {
  if (!source.file && !source.secret) return undefined;
  const { document, from } = await readDocument(source);
  const auth = new Map<string, string>();
  for (const mirror of mirrors) {
    for (const endpoint of mirror.endpoints) {
      const credential = credentialInDocument(document, new URL(endpoint).host, undefined, from);
      if (credential) auth.set(endpoint, `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`);
    }
  }
  if (auth.size === 0) {
    throw new AbortError(`${from} has no credentials for any mirror of the bundle (${mirrors.flatMap((m) => m.endpoints).join(', ') || 'it has none'})`, {
      exitCode: ExitCode.usage,
      hint: 'Its auths keys must be the mirror hosts (host:port), as docker login or podman login write them.',
    });
  }
  return auth;
}

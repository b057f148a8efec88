/**
 * Credentials of the in-cluster registry (`install --registry --registry-auth`): lading generates them
 * once and keeps them in a Secret in its namespace; they are never printed or logged.
 *  - htpasswd: the registry's user file (bcrypt, as the distribution registry requires);
 *  - username / password: what nodes pull with (written into their runtime's mirror config, mode 600);
 *  - push-token and registry-credentials: the push gate's (see src/injector/gate.go). The API server
 *    removes the Authorization header from every request it proxies, so lading's pushes through it carry
 *    the push token in a header of their own, and the gate adds the registry's credentials on loopback.
 */
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';
import { api, apiStatus, type ClusterConnection } from '../cluster/kube.js';

export const AUTH_SECRET = 'lading-registry-auth';
/** The ConfigMap bootstrap's pull credentials for workloads (kubernetes.io/dockerconfigjson). */
export const PULL_SECRET = 'lading-registry-pull';
export const PUSH_TOKEN_HEADER = 'x-lading-push-token';
const USERNAME = 'lading';
const KEYS = ['htpasswd', 'username', 'password', 'push-token', 'registry-credentials'] as const;

export interface RegistryCredentials {
  username: string;
  password: string;
  pushToken: string;
}

export function newCredentials(): RegistryCredentials {
  return { username: USERNAME, password: randomBytes(24).toString('base64url'), pushToken: randomBytes(32).toString('base64url') };
}

/** The Secret's data (plain strings; the API client encodes them). bcrypt cost 10, as htpasswd -B uses. */
export function authSecret(namespace: string, credentials: RegistryCredentials): k8s.V1Secret {
  const { username, password, pushToken } = credentials;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: AUTH_SECRET, namespace, labels: { 'app.kubernetes.io/managed-by': 'lading', 'app.kubernetes.io/part-of': 'lading-registry' } },
    stringData: {
      htpasswd: `${username}:${bcrypt.hashSync(password, 10)}\n`,
      username,
      password,
      'push-token': pushToken,
      'registry-credentials': `${username}:${password}`,
    },
  };
}

function decode(secret: k8s.V1Secret): RegistryCredentials {
  const value = (key: string) => (secret.data?.[key] ? Buffer.from(secret.data[key], 'base64').toString('utf8') : '');
  const missing = KEYS.filter((k) => !value(k));
  if (missing.length) {
    throw new AbortError(`Secret ${secret.metadata?.namespace}/${AUTH_SECRET} lacks ${missing.join(', ')}`, {
      exitCode: ExitCode.usage,
      hint: `Delete it (kubectl delete secret -n ${secret.metadata?.namespace} ${AUTH_SECRET}) and run install --registry --registry-auth again: lading makes new credentials.`,
    });
  }
  return { username: value('username'), password: value('password'), pushToken: value('push-token') };
}

/** The registry's credentials, or undefined when it runs without (no Secret). */
export async function readCredentials(conn: ClusterConnection, namespace: string): Promise<RegistryCredentials | undefined> {
  const secret = await api(`read Secret ${namespace}/${AUTH_SECRET}`, () =>
    conn.core.readNamespacedSecret({ namespace, name: AUTH_SECRET }).catch((error: unknown) => (apiStatus(error) === 404 ? undefined : Promise.reject(error))),
  );
  return secret ? decode(secret) : undefined;
}

/** The existing credentials, or new ones stored in a new Secret. */
export async function ensureCredentials(conn: ClusterConnection, namespace: string): Promise<{ credentials: RegistryCredentials; created: boolean }> {
  const existing = await readCredentials(conn, namespace);
  if (existing) return { credentials: existing, created: false };
  const credentials = newCredentials();
  await api(`create Secret ${namespace}/${AUTH_SECRET}`, () => conn.core.createNamespacedSecret({ namespace, body: authSecret(namespace, credentials) }));
  return { credentials, created: true };
}

/** The Authorization header value nodes pull with. */
export function basicAuth(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** The Secret pods name in imagePullSecrets to pull from the registry at `host` (127.0.0.1:NODEPORT); replaced when it differs. */
export async function ensurePullSecret(conn: ClusterConnection, namespace: string, host: string, credentials: RegistryCredentials): Promise<void> {
  const config = JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') } } });
  const body: k8s.V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: { name: PULL_SECRET, namespace, labels: { 'app.kubernetes.io/managed-by': 'lading', 'app.kubernetes.io/part-of': 'lading-registry' } },
    data: { '.dockerconfigjson': Buffer.from(config).toString('base64') },
  };
  const existing = await api(`read Secret ${namespace}/${PULL_SECRET}`, () =>
    conn.core.readNamespacedSecret({ namespace, name: PULL_SECRET }).catch((error: unknown) => (apiStatus(error) === 404 ? undefined : Promise.reject(error))),
  );
  if (!existing) await api(`create Secret ${namespace}/${PULL_SECRET}`, () => conn.core.createNamespacedSecret({ namespace, body }));
  else if (existing.data?.['.dockerconfigjson'] !== body.data!['.dockerconfigjson']) {
    await api(`update Secret ${namespace}/${PULL_SECRET}`, () => conn.core.replaceNamespacedSecret({ namespace, name: PULL_SECRET, body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } } }));
  }
}

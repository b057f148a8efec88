/**
 * A token service for docker-registry's token auth (the Bearer flow Docker
 * Hub and most hosted registries use): it checks Basic credentials, and
 * issues RS256 JWTs with the signing certificate in `x5c`, which the registry
 * verifies against its rootcertbundle. Listens on 127.0.0.1 only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool } from './tools.js';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file of the signing certificate: the registry's rootcertbundle. */
  certFile: string;
  /** Each token request: its query string and whether it carried valid credentials. */
  requests: Array<{ query: string; authenticated: boolean }>;
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export async function startTokenServer(dir: string, user: { username: string; password: string }): Promise<TokenServer> {
  const openssl = requireTool('openssl');
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=lading-test-token'], { stdio: 'ignore' });
  const key = readFileSync(keyFile, 'utf8');
  const certDer = new X509Certificate(readFileSync(certFile)).raw;
  const service = 'lading-test-registry';
  const issuer = 'lading-test-issuer';
  const requests: TokenServer['requests'] = [];
  const expected = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const authenticated = req.headers.authorization === expected;
    requests.push({ query: url.search, authenticated });
    if (url.pathname !== '/token' || !authenticated) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'credentials required' }));
      return;
    }
    const scope = url.searchParams.get('scope') ?? '';
    const [type, name, actions] = scope.split(':');
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: user.username,
      aud: url.searchParams.get('service') ?? service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access: type === 'repository' && name ? [{ type, name, actions: (actions ?? 'pull').split(',') }] : [],
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

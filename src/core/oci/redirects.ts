/**
 * Which redirects a registry may send lading on, and whether the credentials
 * go along. Credentials stay with the exact origin (scheme, host and port) they
 * were meant for; HTTPS never silently becomes plain HTTP.
 */
import { printable } from '../util/printable.js';

export type RedirectDecision = { follow: true; url: URL; keepAuth: boolean } | { follow: false; reason: string };

/**
 * `allowsHttp(host)` says whether plain HTTP is allowed to a host:port
 * (loopback, or named with --insecure-registry).
 */
export function decideRedirect(from: URL, location: string, allowsHttp: (host: string) => boolean): RedirectDecision {
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    return { follow: false, reason: `a redirect to an invalid URL "${printable(location.slice(0, 200))}"` };
  }
  if (to.protocol !== 'https:' && to.protocol !== 'http:') {
    return { follow: false, reason: `a redirect to a ${printable(to.protocol.slice(0, 20))} URL` };
  }
  if (to.username || to.password) return { follow: false, reason: `a redirect to a URL with credentials in it (${printable(to.host)})` };
  if (from.protocol === 'https:' && to.protocol === 'http:' && !allowsHttp(to.host)) {
    return { follow: false, reason: `a redirect from HTTPS to plain HTTP (${printable(to.origin)})` };
  }
  return { follow: true, url: to, keepAuth: to.origin === from.origin };
}

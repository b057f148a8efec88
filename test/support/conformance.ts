/**
 * The OCI distribution-spec conformance suites' pull workflow against a registry on a host:port:
 * built from their Go modules by test/conformance/build (cached per version), run with the content the
 * test names, and their verdicts asserted. Used by serve-conformance.test.ts (lading serve) and
 * injector-conformance.test.ts (the ConfigMap injector).
 *
 *   current  the suite as a program, read-only inputs (OCI_RO_DATA_*): its report on stdout is the verdict
 *   legacy   the v1.1 Ginkgo suite, OCI_TEST_PULL with the content named: its junit.xml is the verdict
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { requireTool } from './tools.js';

const run = promisify(execFile);
const BUILD = fileURLToPath(new URL('../conformance/build', import.meta.url));

/** NAME -> path of each suite, built (or found in the cache) by test/conformance/build. */
export async function buildConformanceSuites(): Promise<Record<string, string>> {
  requireTool('go', 'install Go >= 1.24 (https://go.dev/dl/ or `apt-get install golang`); the suite is built from its module through the Go module proxy');
  const built = await run('bash', [BUILD], { maxBuffer: 1 << 20, timeout: 15 * 60_000 });
  return Object.fromEntries(built.stdout.trim().split('\n').map((line) => line.split(' ') as [string, string]));
}

/** What the suites pull: a repository with a tag, and the manifests and blobs it serves. */
export interface PullContent {
  /** host:port, plain HTTP. */
  host: string;
  repository: string;
  /** A second repository the registry serves (the current suite wants one). */
  repository2: string;
  tag: string;
  /** What the tag points at. */
  digest: string;
  manifests: string[];
  blobs: string[];
}

/** The current suite, push and delete off, read-only inputs; passes or fails `t` with its report. */
export async function assertCurrentSuitePasses(t: TestContext, suite: string, work: string, content: PullContent): Promise<void> {
  const cwd = await mkdtemp(join(work, 'current-'));
  const env = {
    ...process.env,
    OCI_REGISTRY: content.host,
    OCI_TLS: 'disabled',
    OCI_REPO1: content.repository,
    OCI_REPO2: content.repository2,
    OCI_API_PUSH: 'false',
    OCI_API_BLOBS_DELETE: 'false',
    OCI_API_MANIFESTS_DELETE: 'false',
    OCI_API_TAGS_DELETE: 'false',
    OCI_RO_DATA_TAGS: content.tag,
    OCI_RO_DATA_MANIFESTS: content.manifests.join(' '),
    OCI_RO_DATA_BLOBS: content.blobs.join(' '),
    OCI_RO_DATA_REFERRERS: content.digest,
    OCI_RESULTS_DIR: join(cwd, 'results'),
  };
  // The suite's exit code is not its verdict (this version also panics writing results.yaml when push is
  // off, after printing its report): the report on stdout is.
  const result = await run(suite, [], { cwd, env, timeout: 5 * 60_000, maxBuffer: 16 << 20 }).catch((error: { stdout?: string; stderr?: string }) => error);
  const stdout = result.stdout ?? '';
  const report = stdout.slice(stdout.indexOf('OCI Conformance Result'));
  t.diagnostic(report.split('\n').slice(0, 7).join(' | '));
  assert.match(report, /^OCI Conformance Result: Pass/, `${report}\n${result.stderr ?? ''}`);
  const count = (label: string) => Number(new RegExp(`${label}\\.+:\\s+(\\d+)`).exec(report)?.[1]);
  assert.equal(count('FAIL'), 0);
  assert.equal(count('Error'), 0);
  assert.ok(count('Pass') >= 10, `passed ${count('Pass')}`);
  for (const api of ['Tag listing', 'Blob get', 'Blob head', 'Manifest get by digest', 'Manifest get by tag', 'Manifest head by digest', 'Manifest head by tag', 'Referrers', 'Ping']) {
    assert.match(report, new RegExp(`${api}\\.+:\\s+Pass`), api);
  }
}

/** The v1.1 Ginkgo suite, OCI_TEST_PULL with the content named (`blob`: one blob of the repository). */
export async function assertLegacySuitePasses(t: TestContext, suite: string, work: string, content: PullContent & { blob: string }): Promise<void> {
  const cwd = await mkdtemp(join(work, 'legacy-'));
  const env = {
    ...process.env,
    OCI_ROOT_URL: `http://${content.host}`,
    OCI_NAMESPACE: content.repository,
    OCI_TEST_PULL: '1',
    OCI_TAG_NAME: content.tag,
    OCI_MANIFEST_DIGEST: content.digest,
    OCI_BLOB_DIGEST: content.blob,
    OCI_HIDE_SKIPPED_WORKFLOWS: '1',
    OCI_REPORT_DIR: cwd,
  };
  const result = await run(suite, ['-test.v'], { cwd, env, timeout: 5 * 60_000, maxBuffer: 16 << 20 }).catch((error: { code?: number; stdout?: string }) => error);
  const junit = await readFile(join(cwd, 'junit.xml'), 'utf8');
  const testsuite = /<testsuite [^>]*>/.exec(junit)?.[0];
  assert.ok(testsuite, junit.slice(0, 500));
  const attribute = (name: string) => Number(new RegExp(` ${name}="(\\d+)"`).exec(testsuite)?.[1]);
  const [tests, failures, errors, skipped] = ['tests', 'failures', 'errors', 'skipped'].map(attribute) as [number, number, number, number];
  t.diagnostic(`${tests - skipped} of ${tests} specs ran: ${tests - skipped - failures - errors} passed, ${failures} failed, ${errors} errors (${skipped} skipped: push, discovery, management)`);
  assert.equal(failures, 0, (result as { stdout?: string }).stdout);
  assert.equal(errors, 0);
  assert.ok(tests - skipped >= 14, `${tests - skipped} specs ran`);
  assert.equal((result as { code?: number }).code ?? 0, 0);
}

// Locating the external programs that the test and demo support drives
// (docker-registry, skopeo, umoci, htpasswd, openssl, podman).
//
// A missing tool is an error, never a reason to skip: tests that need one must
// fail with a message that says how to install it.

import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** How to install the tools we know about (Debian package names). */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  umoci: 'umoci',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  podman: 'podman',
};

export const INSTALL_SCRIPT_HINT = 'bash scripts/install-test-deps';

export class MissingToolError extends Error {
  readonly tool: string;
  constructor(tool: string, installHint: string) {
    super(`${tool} not found on PATH: ${installHint}`);
    this.name = 'MissingToolError';
    this.tool = tool;
  }
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of `name` on PATH (or `name` itself when it is an absolute executable path), else undefined. */
export function findTool(name: string, searchPath: string = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) {
    const abs = path.resolve(name);
    return isExecutableFile(abs) ? abs : undefined;
  }
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** The default install hint for a tool, e.g. "install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)". */
export function defaultInstallHint(name: string): string {
  const pkg = TOOL_PACKAGES[name];
  if (pkg) return `install it with \`apt-get install ${pkg}\` (or run \`${INSTALL_SCRIPT_HINT}\`)`;
  return `install it and make sure it is on PATH (or run \`${INSTALL_SCRIPT_HINT}\`)`;
}

/**
 * The absolute path of an executable on PATH; throws a MissingToolError whose
 * message says how to install it when it is absent.
 */
export function requireTool(name: string, installHint: string = defaultInstallHint(name)): string {
  const found = findTool(name);
  if (!found) throw new MissingToolError(name, installHint);
  return found;
}

/**
 * Platforms as `os/arch[/variant]`, with the normalisation containerd applies:
 * arm64 means arm64/v8, arm means arm/v7, amd64 has no variant (v1).
 */

export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

export class InvalidPlatformError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`invalid platform "${input}": ${reason}`);
    this.name = 'InvalidPlatformError';
  }
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
};

const KNOWN_OS = new Set(['linux', 'windows', 'darwin', 'freebsd']);
const KNOWN_ARCH = new Set(['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64', 'mips64le', 'loong64']);

export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const architecture = ARCH_ALIASES[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = 'v7';
  if (architecture === 'arm' && variant !== undefined && /^\d$/.test(variant)) variant = `v${variant}`;
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return { os, architecture, variant };
}

export function parsePlatform(input: string): Platform {
  const parts = input.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new InvalidPlatformError(input, 'expected os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8');
  }
  const platform = normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
  if (!KNOWN_OS.has(platform.os)) throw new InvalidPlatformError(input, `unknown os "${platform.os}"`);
  if (!KNOWN_ARCH.has(platform.architecture)) {
    throw new InvalidPlatformError(input, `unknown architecture "${platform.architecture}"`);
  }
  return platform;
}

/** Canonical text: linux/amd64, linux/arm64/v8. */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return n.variant ? `${n.os}/${n.architecture}/${n.variant}` : `${n.os}/${n.architecture}`;
}

/** Short text for people: arm64/v8 is shown as linux/arm64, as users write it. */
export function displayPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  if (n.architecture === 'arm64' && n.variant === 'v8') return `${n.os}/arm64`;
  return formatPlatform(n);
}

export function platformsEqual(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b);
}

/**
 * Does a manifest's platform satisfy a wanted platform? Exact match after
 * normalisation; a wanted platform without variant accepts any variant of its
 * architecture only when the descriptor has no better match (see selectManifests).
 */
export function platformMatches(wanted: Platform, offered: Platform): boolean {
  const w = normalizePlatform(wanted);
  const o = normalizePlatform(offered);
  if (w.os !== o.os || w.architecture !== o.architecture) return false;
  return w.variant === undefined || o.variant === undefined || w.variant === o.variant;
}

/** Picks, for each wanted platform, the best descriptor among those offered (exact variant first). */
export function pickPlatform<T extends { platform?: Platform | undefined }>(wanted: Platform, offered: readonly T[]): T | undefined {
  const candidates = offered.filter((d) => d.platform !== undefined && platformMatches(wanted, d.platform));
  return candidates.find((d) => platformsEqual(wanted, d.platform!)) ?? candidates[0];
}

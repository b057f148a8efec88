/**
 * The kubelet's own settings that decide where lading must put images and
 * what will happen to them: which runtime socket it talks to, and when its
 * image GC deletes. Read from what the node itself says, in the kubelet's
 * order: flags (its command line, or the systemd drop-ins and environment
 * files that make it) over its --config file. Pure: texts in, settings out,
 * each naming where it came from.
 */
import { parse as parseYaml } from 'yaml';

export interface Setting<T> {
  value: T;
  /** Where it was read, for messages ("/var/lib/kubelet/config.yaml", "kubelet command line"). */
  source: string;
}

export interface KubeletSettings {
  runtimeEndpoint?: Setting<string>;
  imageEndpoint?: Setting<string>;
  gcHighPercent?: Setting<number>;
  gcLowPercent?: Setting<number>;
}

/** A file that may hold kubelet flags: an environment file, a systemd unit or drop-in. */
export interface FlagSource {
  path: string;
  text: string;
}

export const KUBELET_CONFIG_DEFAULT = '/var/lib/kubelet/config.yaml';

/** Splits a shell-like word list (an env file value, an ExecStart line): whitespace, single and double quotes. */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
      else current = (current ?? '') + char;
    } else if (char === '"' || char === "'") {
      quote = char;
      current ??= '';
    } else if (/\s/.test(char)) {
      if (current !== undefined) args.push(current);
      current = undefined;
    } else current = (current ?? '') + char;
  }
  if (current !== undefined) args.push(current);
  return args;
}

/** The last value of --name (as --name=value or --name value): the kubelet, like any flag parser, keeps the last. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  args.forEach((arg, i) => {
    if (arg.startsWith(`--${name}=`)) value = arg.slice(name.length + 3);
    else if (arg === `--${name}` && i + 1 < args.length && !args[i + 1]!.startsWith('--')) value = args[i + 1];
  });
  return value;
}

/** The flags a unit, drop-in or environment file gives the kubelet: every --word in its values and ExecStart lines. */
export function flagsIn(text: string): string[] {
  const args: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line.startsWith(';')) continue;
    // Environment="KUBELET_KUBEADM_ARGS=--a=b --c" (systemd) or KUBELET_EXTRA_ARGS="--a=b" (env file) or ExecStart=/usr/bin/kubelet --a
    const value = /^(?:Environment\s*=\s*|ExecStart\s*=\s*|[A-Za-z_][A-Za-z0-9_]*\s*=\s*)(.*)$/.exec(line)?.[1];
    if (value === undefined) continue;
    for (const word of splitArgs(value)) {
      // "KEY=--a --b" is one assignment; $KEY unquoted in ExecStart splits it into words again.
      for (const flag of word.replace(/^[A-Za-z_][A-Za-z0-9_]*=(?=--)/, '').split(/\s+/)) if (flag.startsWith('--')) args.push(flag);
    }
  }
  return args;
}

/** Where the kubelet's config file is, from its flags; the kubeadm default when none names one. */
export function kubeletConfigPath(cmdline: readonly string[] | undefined, sources: readonly FlagSource[]): string {
  const fromCmdline = cmdline && flagValue(cmdline, 'config');
  if (fromCmdline) return fromCmdline;
  const fromFiles = flagValue(sources.flatMap((s) => flagsIn(s.text)), 'config');
  return fromFiles ?? KUBELET_CONFIG_DEFAULT;
}

const percent = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 100 ? v : undefined);
const endpoint = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length < 4096 ? v : undefined);

/** The settings lading cares about in a KubeletConfiguration (YAML or JSON); a file that does not parse gives none. */
export function parseKubeletConfig(text: string): { runtimeEndpoint?: string; imageEndpoint?: string; gcHighPercent?: number; gcLowPercent?: number } {
  let doc: Record<string, unknown>;
  try {
    doc = (parseYaml(text, { maxAliasCount: 0 }) ?? {}) as Record<string, unknown>;
  } catch {
    return {};
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) return {};
  const out: ReturnType<typeof parseKubeletConfig> = {};
  const runtime = endpoint(doc['containerRuntimeEndpoint']);
  const image = endpoint(doc['imageServiceEndpoint']);
  const high = percent(doc['imageGCHighThresholdPercent']);
  const low = percent(doc['imageGCLowThresholdPercent']);
  if (runtime) out.runtimeEndpoint = runtime;
  if (image) out.imageEndpoint = image;
  if (high !== undefined) out.gcHighPercent = high;
  if (low !== undefined) out.gcLowPercent = low;
  return out;
}

/**
 * The kubelet's settings: flags (command line when the node shows it, else
 * the drop-ins and environment files) override the config file.
 */
export function kubeletSettings(input: { cmdline?: readonly string[] | undefined; sources: readonly FlagSource[]; config?: FlagSource | undefined }): KubeletSettings {
  const settings: KubeletSettings = {};
  const flagSets: Array<{ args: string[]; source: string }> = input.cmdline
    ? [{ args: [...input.cmdline], source: 'the kubelet\'s command line' }]
    : input.sources.map((s) => ({ args: flagsIn(s.text), source: s.path }));
  const fromConfig = input.config ? parseKubeletConfig(input.config.text) : {};
  function pick<T>(flag: string, parse: (raw: string) => T | undefined, configValue: T | undefined): Setting<T> | undefined {
    // The last source that sets the flag wins, as systemd's concatenated arguments would.
    for (const set of [...flagSets].reverse()) {
      const raw = flagValue(set.args, flag);
      const value = raw === undefined ? undefined : parse(raw);
      if (value !== undefined) return { value, source: set.source };
    }
    return configValue === undefined ? undefined : { value: configValue, source: input.config!.path };
  }
  const runtime = pick('container-runtime-endpoint', endpoint, fromConfig.runtimeEndpoint);
  const image = pick('image-service-endpoint', endpoint, fromConfig.imageEndpoint);
  const high = pick('image-gc-high-threshold', (v) => percent(Number(v)), fromConfig.gcHighPercent);
  const low = pick('image-gc-low-threshold', (v) => percent(Number(v)), fromConfig.gcLowPercent);
  if (runtime) settings.runtimeEndpoint = runtime;
  if (image) settings.imageEndpoint = image;
  if (high) settings.gcHighPercent = high;
  if (low) settings.gcLowPercent = low;
  return settings;
}

/** A CRI endpoint as a socket path: unix:///run/x.sock and /run/x.sock alike; undefined for anything else (tcp, npipe). */
export function socketPath(value: string): string | undefined {
  const path = value.startsWith('unix://') ? value.slice('unix://'.length) : value.includes('://') ? undefined : value;
  return path && path.startsWith('/') && !path.split('/').includes('..') ? path : undefined;
}

/**
 * The runtime files' templates (templates/ at the top of the project), with
 * `{{name}}` placeholders. The single-file build embeds the folder (see
 * scripts/build.mjs); from the sources they are read next to the code.
 */
import { readFileSync } from 'node:fs';

declare const __LADING_TEMPLATES__: Record<string, string> | undefined;

const cache = new Map<string, string>();

export function template(name: string): string {
  if (typeof __LADING_TEMPLATES__ === 'object') {
    const embedded = __LADING_TEMPLATES__[name];
    if (embedded === undefined) throw new Error(`no template ${name} in this build`);
    return embedded;
  }
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`../../../templates/${name}`, import.meta.url), 'utf8');
    cache.set(name, text);
  }
  return text;
}

/** Fills `{{name}}` placeholders; a placeholder without a value is a bug, not an empty string. */
export function render(name: string, values: Record<string, string>): string {
  return template(name).replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`template ${name} needs a value for {{${key}}}`);
    return value;
  });
}

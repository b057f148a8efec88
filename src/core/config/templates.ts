/**
 * The runtime files' templates (templates/ at the top of the project), with
 * `{{name}}` placeholders. The single-file build embeds the folder (see
 * scripts/build.mjs); from the sources they are read next to the code.
 */
import { readFileSync } from 'node:fs';
import { BugError } from '../errors.js';

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

/**
 * Fills `{{name}}` placeholders; a placeholder without a value is a bug, not
 * an empty string. A placeholder that shares its line with other text (a key,
 * a comment) takes one line only: a raw control character there could end the
 * comment or the value and start a line of the file's own.
 */
export function render(name: string, values: Record<string, string>): string {
  return template(name).replace(/\{\{(\w+)\}\}/g, (placeholder: string, key: string, offset: number, text: string) => {
    const value = values[key];
    if (value === undefined) throw new BugError(`template ${name} needs a value for {{${key}}}`);
    const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
    const lineEnd = text.indexOf('\n', offset) === -1 ? text.length : text.indexOf('\n', offset);
    const alone = text.slice(lineStart, offset).trim() === '' && text.slice(offset + placeholder.length, lineEnd).trim() === '';
    if (!alone && /[\u0000-\u001f\u007f]/.test(value)) throw new BugError(`template ${name}: the value of {{${key}}} holds a control character`);
    return value;
  });
}

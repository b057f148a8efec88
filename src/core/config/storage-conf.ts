/**
 * containers-storage's storage.conf, edited the way a careful operator would:
 * lading's store is added to `[storage.options] additionalimagestores` by a
 * small text edit (comments, order and every other entry, such as OCNE's
 * /usr/ock/containers, stay as they were), and the result is parsed again and
 * compared with the original so the edit can only ever have added one entry.
 */
import { AbortError, ExitCode } from '../errors.js';
import { parseNodeToml, plainData, sameToml, tomlString, type TomlTable } from './toml.js';

export const DEFAULT_IMAGE_STORE = '/var/lib/lading/images';

export interface StorageConfEdit {
  text: string;
  changed: boolean;
}

type Table = TomlTable;


function stores(conf: Table): string[] {
  const value = ((conf.storage as Table | undefined)?.options as Table | undefined)?.additionalimagestores;
  return Array.isArray(value) ? value.map(String) : [];
}

/** Adds `store` to additionalimagestores; `changed` is false when it is already there. */
export function addAdditionalImageStore(text: string, store: string, file = 'storage.conf'): StorageConfEdit {
  const before = parseNodeToml(text, file);
  if (stores(before).includes(store)) return { text, changed: false };

  const lines = text.split('\n');
  const header = lines.findIndex((line) => /^\s*\[\s*storage\.options\s*\]\s*(#.*)?$/.test(line));
  let edited: string[];
  if (header === -1) {
    const body = text.endsWith('\n') || text === '' ? text : `${text}\n`;
    edited = `${body}${body ? '\n' : ''}[storage.options]\nadditionalimagestores = [${tomlString(store)}]\n`.split('\n');
  } else {
    let end = lines.findIndex((line, i) => i > header && /^\s*\[/.test(line));
    if (end === -1) end = lines.length;
    const keyLine = lines.findIndex((line, i) => i > header && i < end && /^\s*additionalimagestores\s*=/.test(line));
    edited = [...lines];
    if (keyLine === -1) {
      edited.splice(header + 1, 0, `additionalimagestores = [${tomlString(store)}]`);
    } else {
      // Insert as the first element, right after the opening bracket: works for one-line and multi-line arrays.
      const line = edited[keyLine]!;
      const open = line.indexOf('[', line.indexOf('='));
      const rest = line.slice(open + 1);
      const next = edited[keyLine + 1] ?? '';
      if (rest.trim() === '' && !/^\s*\]/.test(next)) {
        // A multi-line array: our entry on a line of its own, indented like the next one.
        edited.splice(keyLine + 1, 0, `${/^\s*/.exec(next)![0]}${tomlString(store)},`);
      } else {
        const empty = /^\s*\]/.test(rest) || (rest.trim() === '' && /^\s*\]/.test(next));
        edited[keyLine] = `${line.slice(0, open + 1)}${tomlString(store)}${empty ? '' : ', '}${rest.replace(/^\s+/, '')}`;
      }
    }
  }
  const result = edited.join('\n');
  const after = parseNodeToml(result, file);
  const expected = plainData(before);
  const storage = ((expected.storage ??= {}) as Table);
  const options = ((storage.options ??= {}) as Table);
  options.additionalimagestores = [store, ...stores(before)];
  if (!sameToml(after, expected)) {
    throw new AbortError(`${file}: could not add ${store} to additionalimagestores without changing anything else`, {
      exitCode: ExitCode.node,
      hint: `Add "${store}" to [storage.options] additionalimagestores by hand, then run lading install again.`,
    });
  }
  return { text: result, changed: true };
}

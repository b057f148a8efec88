/** Parsing a node's TOML file: a file lading cannot read is one it will not rewrite. */
import { parse } from 'smol-toml';
import { AbortError, ExitCode } from '../errors.js';

export type TomlTable = Record<string, unknown>;

export function parseNodeToml(text: string, file: string): TomlTable {
  try {
    return parse(text) as TomlTable;
  } catch (error) {
    throw new AbortError(`${file} is not valid TOML: ${(error as Error).message.split('\n')[0]}`, {
      exitCode: ExitCode.node,
      hint: 'Fix the file on the node first; lading does not rewrite a file it cannot read.',
    });
  }
}

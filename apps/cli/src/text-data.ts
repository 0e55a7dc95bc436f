// The user's own text files (`titans train --text`, `titans eval --text`): read as bytes,
// checked by @titans/data's decodeText (empty, binary, not UTF-8: one line naming the file),
// and split into a training part and a held-out tail, one document per file.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { TextInputError, decodeText, textDocuments, type CorpusDocument, type TextSplit } from '@titans/data';
import { UsageError } from './command.js';
import { MAX_USER_FILE_BYTES } from './paths.js';

/** Share of each file held out at its end (validation during training, `titans eval --text`). */
export const TEXT_VAL_FRACTION = 0.1;

interface ReadText {
  readonly size: number;
  readonly mtimeMs: number;
  readonly text: string;
  /** SHA-256 of the file's bytes, hex. */
  readonly digest: string;
}

const cache = new Map<string, ReadText>();

/** The text of a user's file; every problem is a UsageError naming it as `shown`. */
export function readTextFile(path: string, shown: string = path): string {
  return readText(path, shown).text;
}

/** SHA-256 (hex) of a user's text file, which must be valid text (see readTextFile). */
export function textFileDigest(path: string, shown: string = path): string {
  return readText(path, shown).digest;
}

function readText(path: string, shown: string): ReadText {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${shown}: cannot read it (${code === 'ENOENT' ? 'no such file' : code ?? (error as Error).message})`);
  }
  if (stat.isDirectory()) throw new UsageError(`${shown}: is a directory, not a text file`);
  if (!stat.isFile()) throw new UsageError(`${shown}: not a regular file (a device or pipe?)`);
  if (stat.size > MAX_USER_FILE_BYTES) throw new UsageError(`${shown}: ${stat.size} bytes is more than the ${MAX_USER_FILE_BYTES}-byte limit`);
  const cached = cache.get(path);
  if (cached && cached.size === stat.size && cached.mtimeMs === stat.mtimeMs) return cached;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new UsageError(`${shown}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let text: string;
  try {
    text = decodeText(bytes, shown);
  } catch (error) {
    if (error instanceof TextInputError) throw new UsageError(error.message);
    throw error;
  }
  const read = { size: stat.size, mtimeMs: stat.mtimeMs, text, digest: createHash('sha256').update(bytes).digest('hex') };
  cache.set(path, read);
  return read;
}

/**
 * One document per file: its training part, its held-out tail ('val', the last 10% from a line
 * start) or all of it. `shown` maps a path to the name errors use (default: the path).
 */
export function userTextDocuments(files: readonly string[], split: TextSplit, shown: (path: string) => string = (p) => p): CorpusDocument[] {
  if (files.length === 0) throw new UsageError('no text files given');
  const texts = files.map((path) => ({ source: shown(path), text: readTextFile(path, shown(path)) }));
  try {
    return textDocuments(texts, split, { valFraction: TEXT_VAL_FRACTION });
  } catch (error) {
    if (error instanceof TextInputError) throw new UsageError(error.message);
    throw error;
  }
}

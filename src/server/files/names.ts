// Name rules of the file system API: what a file or folder may be called, how names are
// stored (NFC) and how sibling names are compared (case-insensitively, name_key).
import { errors } from '../errors.js';

export type NodeKind = 'file' | 'folder';

export interface ValidName {
  /** The name as stored and shown: NFC-normalized. */
  name: string;
  /** The uniqueness key among live siblings: NFC, lower case. */
  key: string;
}

/** Longest name in UTF-8 bytes (the limit of the common local file systems). */
export const MAX_NAME_BYTES = 255;

// C0 and C1 control characters (NUL included) and DEL.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const SEPARATOR = /[/\\]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The uniqueness key of a (valid) name. */
export function nameKey(name: string): string {
  return name.normalize('NFC').toLowerCase().normalize('NFC');
}

/**
 * Checks a file or folder name and returns its stored form. Throws 400 `invalid_name` for
 * "", ".", "..", separators ("/", "\\"), control characters (NUL included), leading or
 * trailing white space and malformed Unicode; a name longer than 255 UTF-8 bytes is
 * `name_too_long` for folders (as documented for folders) and `invalid_name` for files.
 */
export function validateName(raw: string, kind: NodeKind): ValidName {
  if (LONE_SURROGATE.test(raw)) throw errors.invalidName();
  const name = raw.normalize('NFC');
  if (name === '' || name === '.' || name === '..') throw errors.invalidName();
  if (SEPARATOR.test(name) || CONTROL.test(name)) throw errors.invalidName();
  if (name.trim() !== name) throw errors.invalidName();
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw kind === 'folder' ? errors.nameTooLong() : errors.invalidName();
  return { name, key: nameKey(name) };
}

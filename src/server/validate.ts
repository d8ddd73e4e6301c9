// Field validators shared by the account and organization routes (on top of http.ts): each
// returns undefined when the field is absent and throws the documented 400 when it is invalid.
import { ApiError, errors } from './errors.js';
import { optString, type Fields } from './http.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function optEmail(f: Fields, name: string): string | undefined {
  const s = optString(f, name);
  if (s === undefined) return undefined;
  const t = s.trim();
  if (t.length > 254 || !EMAIL.test(t)) throw errors.invalidParam(name);
  return t;
}

export function reqEmail(f: Fields, name: string): string {
  const s = optString(f, name);
  if (s === undefined || s.trim() === '') throw errors.missingParam(name);
  return optEmail(f, name)!;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Free text of at most `max` characters (no control characters; with `multiline`, tabs and line breaks are allowed). */
export function optText(f: Fields, name: string, max = 255, multiline = false): string | undefined {
  const s = optString(f, name);
  if (s === undefined) return undefined;
  if (s.length > max || (multiline ? CONTROL_EXCEPT_LINES : CONTROL).test(s)) throw errors.invalidParam(name);
  return s;
}

export function reqText(f: Fields, name: string, max = 255): string {
  const s = optText(f, name, max);
  if (s === undefined || s.trim() === '') throw errors.missingParam(name);
  return s;
}

/** A phone number: digits with optional +, spaces, dashes, dots and parentheses. "" → null. */
export function optPhone(f: Fields, name: string): string | null | undefined {
  if (f[name] === null) return null;
  const s = optString(f, name);
  if (s === undefined) return undefined;
  if (s.trim() === '') return null;
  if (!/^\+?[0-9 ().-]{3,32}$/.test(s.trim()) || !/\d{3}/.test(s.replace(/\D/g, ''))) throw errors.invalidParam(name);
  return s.trim();
}

/** A non-negative integer, or null for "" / "null". */
export function optNullableInt(f: Fields, name: string, min = 0): number | null | undefined {
  if (f[name] === null) return null;
  const s = optString(f, name);
  if (s === undefined) return undefined;
  if (s === '' || s.toLowerCase() === 'null') return null;
  if (!/^-?\d+$/.test(s)) throw errors.invalidParam(name);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min) throw errors.invalidParam(name);
  return n;
}

/** 409: the value is already used by another record (e.g. an email address, a slug). */
export function conflict(param: string): ApiError {
  return new ApiError(409, { error: 'conflict', error_description: `Value already in use for parameter: ${param}` });
}

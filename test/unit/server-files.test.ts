// Pure pieces of the file system API: name rules, Range parsing, Content-Disposition and the
// streaming ZIP writer (including its ZIP64 end records).
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/server/errors.js';
import { contentDisposition, parseRange } from '../../src/server/files/download.js';
import { nameKey, validateName } from '../../src/server/files/names.js';
import { zipStream, type ZipEntry } from '../../src/server/files/zip.js';

function nameError(raw: string, kind: 'file' | 'folder' = 'file'): string | undefined {
  try {
    validateName(raw, kind);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return (err as ApiError).body.error as string;
  }
}

describe('name rules', () => {
  it('accepts ordinary names and stores them NFC with a case-folded key', () => {
    expect(validateName('Cafe\u0301 Menu.txt', 'file')).toEqual({ name: 'Caf\u00e9 Menu.txt', key: 'caf\u00e9 menu.txt' });
    expect(validateName('.hidden', 'file').name).toBe('.hidden');
    expect(validateName('a:b*c', 'file').name).toBe('a:b*c');
    expect(nameKey('CAF\u00c9')).toBe(nameKey('cafe\u0301'));
  });

  it('rejects empty, dot names, separators, control characters, edge white space, bad Unicode', () => {
    for (const bad of ['', '.', '..', 'a/b', '/', 'a\\b', 'C:\\x', 'a\u0000b', 'a\nb', 'a\u007fb', 'a\u009bb', ' a', 'a ', '\u00a0a', 'a\u3000', 'x\ud800y']) {
      expect(nameError(bad), JSON.stringify(bad)).toBe('invalid_name');
    }
  });

  it('limits names to 255 UTF-8 bytes: name_too_long for folders, invalid_name for files', () => {
    expect(nameError('a'.repeat(255), 'folder')).toBeUndefined();
    expect(nameError('a'.repeat(256), 'folder')).toBe('name_too_long');
    expect(nameError('\u{1F600}'.repeat(64), 'file')).toBe('invalid_name'); // 256 bytes
    expect(nameError('\u{1F600}'.repeat(63) + 'abc', 'file')).toBeUndefined(); // 255 bytes
  });
});

describe('Range header', () => {
  it('parses single ranges and ignores what it cannot serve', () => {
    expect(parseRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=900-5000', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=-5000', 1000)).toEqual({ start: 0, end: 999 });
    expect(parseRange('bytes=1000-', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 1000)).toBe('unsatisfiable');
    for (const ignored of [undefined, '', 'bytes=5-1', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-', 'bytes=a-b']) {
      expect(parseRange(ignored, 1000)).toBeUndefined();
    }
    expect(parseRange('bytes=0-', 0)).toBeUndefined();
  });

  it('encodes non-ASCII names in Content-Disposition', () => {
    expect(contentDisposition('attachment', 'plain.txt')).toBe(`attachment; filename="plain.txt"; filename*=UTF-8''plain.txt`);
    expect(contentDisposition('inline', 'a "q" ü (1).txt')).toBe(`inline; filename="a _q_ _ (1).txt"; filename*=UTF-8''a%20%22q%22%20%C3%BC%20%281%29.txt`);
  });
});

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('ZIP writer', () => {
  const mtime = new Date('2024-05-06T07:08:10Z');

  it('writes stored entries with data descriptors and a central directory', async () => {
    const data = Buffer.from('hello zip');
    const zip = await collect(
      zipStream([
        { name: 'dir', kind: 'folder', mtime },
        { name: 'dir/hello.txt', kind: 'file', mtime, size: data.length, open: async function* () { yield data; } },
      ]),
    );
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    const eocd = zip.length - 22;
    expect(zip.readUInt32LE(eocd)).toBe(0x06054b50);
    expect(zip.readUInt16LE(eocd + 10)).toBe(2);
    const cd = zip.readUInt32LE(eocd + 16);
    expect(zip.readUInt32LE(cd)).toBe(0x02014b50);
    // second central entry: the file, with its CRC and size
    const second = cd + 46 + zip.readUInt16LE(cd + 28);
    expect(zip.subarray(second + 46, second + 46 + 13).toString()).toBe('dir/hello.txt');
    expect(zip.readUInt32LE(second + 16)).toBe(zlib.crc32(data) >>> 0);
    expect(zip.readUInt32LE(second + 24)).toBe(data.length);
    // DOS time 07:08:10, date 2024-05-06
    expect(zip.readUInt16LE(second + 12)).toBe((7 << 11) | (8 << 5) | 5);
    expect(zip.readUInt16LE(second + 14)).toBe(((2024 - 1980) << 9) | (5 << 5) | 6);
  });

  it('fails the stream when content does not match the recorded size', async () => {
    const entries: ZipEntry[] = [{ name: 'x', kind: 'file', mtime, size: 5, open: async function* () { yield Buffer.from('abc'); } }];
    await expect(collect(zipStream(entries))).rejects.toThrow(/shorter/);
  });

  it('adds ZIP64 end records past 65535 entries', async () => {
    const n = 70_000;
    const entries = (function* (): Generator<ZipEntry> {
      for (let i = 0; i < n; i++) yield { name: `d${i}/`, kind: 'folder', mtime };
    })();
    const zip = await collect(zipStream(entries));
    const eocd = zip.length - 22;
    expect(zip.readUInt16LE(eocd + 10)).toBe(0xffff);
    const locator = eocd - 20;
    expect(zip.readUInt32LE(locator)).toBe(0x07064b50);
    const rec = Number(zip.readBigUInt64LE(locator + 8));
    expect(zip.readUInt32LE(rec)).toBe(0x06064b50);
    expect(Number(zip.readBigUInt64LE(rec + 32))).toBe(n);
    const cdOffset = Number(zip.readBigUInt64LE(rec + 48));
    const cdSize = Number(zip.readBigUInt64LE(rec + 40));
    expect(cdOffset + cdSize).toBe(rec);
    expect(zip.readUInt32LE(cdOffset)).toBe(0x02014b50);
  });
});

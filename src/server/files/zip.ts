// A small streaming ZIP writer (entries "stored", i.e. not compressed): local header with the
// known size, the data while its CRC-32 is computed, a data descriptor with the CRC, and the
// central directory at the end. ZIP64 records are written when a size, an offset or the
// number of entries needs them, so archives of any size are valid.
import { Readable } from 'node:stream';
import zlib from 'node:zlib';

export interface ZipEntry {
  /** Path inside the archive, "/"-separated, no leading "/"; folders end with "/". */
  name: string;
  kind: 'file' | 'folder';
  mtime: Date;
  /** Files: exact size in bytes. */
  size?: number;
  /** Files: opens the content. */
  open?: () => AsyncIterable<Buffer>;
}

const U32 = 0xffffffff;
const U16 = 0xffff;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;

interface Written {
  nameBytes: Buffer;
  flags: number;
  crc: number;
  size: number;
  offset: number;
  dosTime: number;
  dosDate: number;
  folder: boolean;
}

function dosDateTime(d: Date): { dosTime: number; dosDate: number } {
  const year = Math.min(Math.max(d.getUTCFullYear(), 1980), 2107);
  return {
    dosTime: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    dosDate: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function localHeader(w: Written): Buffer {
  const zip64 = w.size >= U32;
  const extra = zip64 ? Buffer.concat([Buffer.from([0x01, 0x00, 16, 0x00]), u64(w.size), u64(w.size)]) : Buffer.alloc(0);
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(zip64 ? 45 : 20, 4);
  h.writeUInt16LE(w.flags, 6);
  h.writeUInt16LE(0, 8); // stored
  h.writeUInt16LE(w.dosTime, 10);
  h.writeUInt16LE(w.dosDate, 12);
  h.writeUInt32LE(0, 14); // CRC follows in the data descriptor (files) / 0 (folders)
  h.writeUInt32LE(zip64 ? U32 : w.size, 18);
  h.writeUInt32LE(zip64 ? U32 : w.size, 22);
  h.writeUInt16LE(w.nameBytes.length, 26);
  h.writeUInt16LE(extra.length, 28);
  return Buffer.concat([h, w.nameBytes, extra]);
}

function dataDescriptor(w: Written): Buffer {
  if (w.size >= U32) {
    const d = Buffer.alloc(24);
    d.writeUInt32LE(0x08074b50, 0);
    d.writeUInt32LE(w.crc, 4);
    d.writeBigUInt64LE(BigInt(w.size), 8);
    d.writeBigUInt64LE(BigInt(w.size), 16);
    return d;
  }
  const d = Buffer.alloc(16);
  d.writeUInt32LE(0x08074b50, 0);
  d.writeUInt32LE(w.crc, 4);
  d.writeUInt32LE(w.size, 8);
  d.writeUInt32LE(w.size, 12);
  return d;
}

function centralEntry(w: Written): Buffer {
  const bigSize = w.size >= U32;
  const bigOffset = w.offset >= U32;
  const extraFields: Buffer[] = [];
  if (bigSize) extraFields.push(u64(w.size), u64(w.size));
  if (bigOffset) extraFields.push(u64(w.offset));
  const body = Buffer.concat(extraFields);
  const extra = body.length ? Buffer.concat([Buffer.from([0x01, 0x00, body.length, 0x00]), body]) : Buffer.alloc(0);
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE((3 << 8) | 45, 4); // made by: Unix, spec 4.5
  h.writeUInt16LE(extra.length ? 45 : 20, 6);
  h.writeUInt16LE(w.flags, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt16LE(w.dosTime, 12);
  h.writeUInt16LE(w.dosDate, 14);
  h.writeUInt32LE(w.crc, 16);
  h.writeUInt32LE(bigSize ? U32 : w.size, 20);
  h.writeUInt32LE(bigSize ? U32 : w.size, 24);
  h.writeUInt16LE(w.nameBytes.length, 28);
  h.writeUInt16LE(extra.length, 30);
  h.writeUInt16LE(0, 32); // comment
  h.writeUInt16LE(0, 34); // disk
  h.writeUInt16LE(0, 36); // internal attributes
  h.writeUInt32LE(w.folder ? ((0o40755 << 16) | 0x10) >>> 0 : (0o100644 << 16) >>> 0, 38);
  h.writeUInt32LE(bigOffset ? U32 : w.offset, 42);
  return Buffer.concat([h, w.nameBytes, extra]);
}

function endRecords(count: number, cdOffset: number, cdSize: number): Buffer {
  const parts: Buffer[] = [];
  const zip64 = count >= U16 || cdOffset >= U32 || cdSize >= U32;
  if (zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE((3 << 8) | 45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeUInt32LE(0, 16);
    rec.writeUInt32LE(0, 20);
    rec.writeBigUInt64LE(BigInt(count), 24);
    rec.writeBigUInt64LE(BigInt(count), 32);
    rec.writeBigUInt64LE(BigInt(cdSize), 40);
    rec.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeUInt32LE(0, 4);
    loc.writeBigUInt64LE(BigInt(cdOffset + cdSize), 8);
    loc.writeUInt32LE(1, 16);
    parts.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0, 4);
  eocd.writeUInt16LE(0, 6);
  eocd.writeUInt16LE(Math.min(count, U16), 8);
  eocd.writeUInt16LE(Math.min(count, U16), 10);
  eocd.writeUInt32LE(Math.min(cdSize, U32), 12);
  eocd.writeUInt32LE(Math.min(cdOffset, U32), 16);
  eocd.writeUInt16LE(0, 20);
  parts.push(eocd);
  return Buffer.concat(parts);
}

async function* generate(entries: Iterable<ZipEntry>): AsyncGenerator<Buffer> {
  let offset = 0;
  const written: Written[] = [];
  for (const e of entries) {
    const folder = e.kind === 'folder';
    const name = folder && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const w: Written = {
      nameBytes: Buffer.from(name, 'utf8'),
      flags: FLAG_UTF8 | (folder ? 0 : FLAG_DESCRIPTOR),
      crc: 0,
      size: folder ? 0 : (e.size ?? 0),
      offset,
      folder,
      ...dosDateTime(e.mtime),
    };
    const header = localHeader(w);
    offset += header.length;
    yield header;
    if (!folder) {
      let seen = 0;
      let crc = 0;
      for await (const chunk of e.open!()) {
        seen += chunk.length;
        if (seen > w.size) throw new Error(`zip entry ${name} is longer than its recorded size ${w.size}`);
        crc = zlib.crc32(chunk, crc);
        offset += chunk.length;
        yield chunk;
      }
      if (seen !== w.size) throw new Error(`zip entry ${name} is shorter (${seen}) than its recorded size ${w.size}`);
      w.crc = crc >>> 0;
      const dd = dataDescriptor(w);
      offset += dd.length;
      yield dd;
    }
    written.push(w);
  }
  const cdOffset = offset;
  let cdSize = 0;
  for (const w of written) {
    const c = centralEntry(w);
    cdSize += c.length;
    yield c;
  }
  yield endRecords(written.length, cdOffset, cdSize);
}

/** A readable ZIP archive of `entries` (consumed lazily, in order). */
export function zipStream(entries: Iterable<ZipEntry>): Readable {
  return Readable.from(generate(entries), { objectMode: false });
}

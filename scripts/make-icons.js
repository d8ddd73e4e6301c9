#!/usr/bin/env node
// Draws the app icon and the tray icons into assets/ with nothing but node:zlib (PNG written by
// hand): shapes are signed distance functions, sampled 4×4 per pixel for anti-aliasing.
//
//   assets/icon.png                        1024×1024 app icon (electron-builder makes .ico/.icns)
//   assets/tray/<state>.png, <state>@2x.png                16/32 px, coloured (Windows, Linux)
//   assets/tray/<state>Template.png, <state>Template@2x.png 16/32 px, black + alpha (macOS)
//
// States: synced, syncing, paused, attention, offline (src/main/tray-model.ts).
// Run: node scripts/make-icons.js   (the output is committed; run again after changing shapes)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const assets = path.join(root, 'assets');

// ---- PNG ---------------------------------------------------------------------------------------

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** RGBA pixels (Uint8Array, width*height*4) → PNG file bytes. */
function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, rgba.byteOffset + y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- shapes (signed distance, negative inside; units of a 16×16 design grid) -------------------

const circle = (cx, cy, r) => (x, y) => Math.hypot(x - cx, y - cy) - r;
const union = (...fs) => (x, y) => Math.min(...fs.map((f) => f(x, y)));
const subtract = (a, b) => (x, y) => Math.max(a(x, y), -b(x, y));
/** Union with the seams rounded over k units (polynomial smooth minimum). */
const smoothUnion = (k, ...fs) => (x, y) =>
  fs.map((f) => f(x, y)).reduce((a, b) => {
    const h = Math.max(k - Math.abs(a - b), 0) / k;
    return Math.min(a, b) - (h * h * k) / 4;
  });
const outline = (f, w) => (x, y) => Math.abs(f(x, y)) - w / 2;

function segment(ax, ay, bx, by, w) {
  return (x, y) => {
    const px = x - ax, py = y - ay, dx = bx - ax, dy = by - ay;
    const t = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)));
    return Math.hypot(px - t * dx, py - t * dy) - w / 2;
  };
}

const polyline = (pts, w) => union(...pts.slice(1).map((p, i) => segment(pts[i][0], pts[i][1], p[0], p[1], w)));

function rect(x0, y0, x1, y1, r = 0) {
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, hx = (x1 - x0) / 2 - r, hy = (y1 - y0) / 2 - r;
  return (x, y) => {
    const qx = Math.abs(x - cx) - hx, qy = Math.abs(y - cy) - hy;
    return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
  };
}

/** A ring arc from angle a0 to a1 (radians, clockwise on screen from +x), stroke width w. */
function arc(cx, cy, r, a0, a1, w) {
  const ends = [a0, a1].map((a) => [cx + r * Math.cos(a), cy + r * Math.sin(a)]);
  return (x, y) => {
    let a = Math.atan2(y - cy, x - cx);
    while (a < a0) a += 2 * Math.PI;
    if (a <= a1) return Math.abs(Math.hypot(x - cx, y - cy) - r) - w / 2;
    return Math.min(...ends.map(([ex, ey]) => Math.hypot(x - ex, y - ey))) - w / 2;
  };
}

function triangle(ax, ay, bx, by, cx, cy) {
  const edges = [[ax, ay, bx, by], [bx, by, cx, cy], [cx, cy, ax, ay]];
  const sign = Math.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax));
  return (x, y) => {
    let inside = true;
    let d = Infinity;
    for (const [x0, y0, x1, y1] of edges) {
      const ex = x1 - x0, ey = y1 - y0;
      if (sign * (ex * (y - y0) - ey * (x - x0)) < 0) inside = false;
      const t = Math.max(0, Math.min(1, ((x - x0) * ex + (y - y0) * ey) / (ex * ex + ey * ey)));
      d = Math.min(d, Math.hypot(x - x0 - t * ex, y - y0 - t * ey));
    }
    return inside ? -d : d;
  };
}

// The cloud, filling most of the 16-unit grid (a little margin for the menu bar).
const cloud = smoothUnion(0.3, circle(5.2, 9.6, 3.3), circle(9.3, 7.4, 4.3), circle(12.6, 10.4, 2.7), rect(1.95, 9.2, 15.25, 13.1, 1.95));
const CX = 8.8, CY = 10.0; // where the glyphs sit

const glyphs = {
  synced: polyline([[CX - 2.6, CY + 0.1], [CX - 0.7, CY + 1.9], [CX + 2.6, CY - 1.6]], 1.45),
  syncing: union(
    arc(CX, CY, 2.3, -Math.PI * 0.95, Math.PI * 0.5, 1.4),
    triangle(CX - 3.9, CY - 0.5, CX - 0.5, CY - 0.5, CX - 2.2, CY + 1.6),
  ),
  paused: union(rect(CX - 1.9, CY - 2.1, CX - 0.55, CY + 2.1, 0.3), rect(CX + 0.55, CY - 2.1, CX + 1.9, CY + 2.1, 0.3)),
  attention: union(rect(CX - 0.7, CY - 2.6, CX + 0.7, CY + 0.7, 0.5), circle(CX, CY + 2.0, 0.8)),
  offline: segment(CX - 2.4, CY - 1.9, CX + 2.4, CY + 1.9, 1.3),
};

const COLORS = {
  synced: [0x2e, 0x9e, 0x5b],
  syncing: [0x1f, 0x74, 0xd8],
  paused: [0x7a, 0x80, 0x8a],
  attention: [0xe0, 0x55, 0x0a],
  offline: [0x6e, 0x75, 0x7e],
};

/** Layers painted in order: [distanceFn, [r,g,b,a]] in design units; `clear` layers cut alpha. */
function render(size, layers, design = 16, ss = 4) {
  const px = new Uint8Array(size * size * 4);
  const k = design / size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0; // premultiplied accumulation over samples
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const ux = (x + (sx + 0.5) / ss) * k, uy = (y + (sy + 0.5) / ss) * k;
          let cr = 0, cg = 0, cb = 0, ca = 0;
          for (const [f, color, mode] of layers) {
            if (f(ux, uy) > 0) continue;
            if (mode === 'clear') {
              cr = cg = cb = ca = 0;
              continue;
            }
            const la = color[3] / 255;
            cr = color[0] * la + cr * (1 - la);
            cg = color[1] * la + cg * (1 - la);
            cb = color[2] * la + cb * (1 - la);
            ca = la + ca * (1 - la);
          }
          r += cr; g += cg; b += cb; a += ca;
        }
      }
      const n = ss * ss;
      const i = (y * size + x) * 4;
      const alpha = a / n;
      px[i + 3] = Math.round(alpha * 255);
      if (alpha > 0) {
        px[i] = Math.round(r / n / alpha);
        px[i + 1] = Math.round(g / n / alpha);
        px[i + 2] = Math.round(b / n / alpha);
      }
    }
  }
  return px;
}

function trayLayers(state, template) {
  const ink = template ? [0, 0, 0, 255] : [...COLORS[state], 255];
  if (state === 'offline') {
    // An outlined cloud with a slash: "not connected" reads at a glance.
    const shape = union(outline(cloud, 1.5), glyphs.offline);
    return [[shape, ink]];
  }
  if (template) return [[subtract(cloud, glyphs[state]), ink]];
  return [[cloud, ink], [glyphs[state], [255, 255, 255, 255]]];
}

function write(rel, size, layers, design) {
  const file = path.join(assets, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, encodePng(size, size, render(size, layers, design)));
  return rel;
}

const written = [];
for (const state of Object.keys(glyphs)) {
  for (const template of [false, true]) {
    const base = `tray/${state}${template ? 'Template' : ''}`;
    written.push(write(`${base}.png`, 16, trayLayers(state, template)));
    written.push(write(`${base}@2x.png`, 32, trayLayers(state, template)));
  }
}

// App icon: a white cloud with a blue check on a rounded blue square (macOS-style margins).
{
  const bg = rect(0.9, 0.9, 15.1, 15.1, 3.3);
  const bgShade = rect(0.9, 8, 15.1, 15.1, 3.3);
  const place = (f) => (x, y) => f((x - 8) / 0.78 + 8.6, (y - 8) / 0.78 + 9.0) * 0.78;
  const appCloud = place(cloud);
  const appCheck = place(glyphs.synced);
  written.push(
    write('icon.png', 1024, [
      [bg, [0x25, 0x7f, 0xe6, 255]],
      [bgShade, [0x12, 0x5c, 0xc4, 90]],
      [appCloud, [255, 255, 255, 255]],
      [appCheck, [0x1f, 0x74, 0xd8, 255]],
    ]),
  );
}

process.stdout.write(`wrote ${written.length} files to ${path.relative(process.cwd(), assets) || '.'}:\n  ${written.join('\n  ')}\n`);

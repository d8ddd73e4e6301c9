// The bandwidth chart, drawn as SVG: upload and download rates of the last minutes, the
// throttle limit as a (stepped, dashed) line, exception windows as shaded bands. The right end
// shows a little of what is ahead (the limit and windows scheduled) after a "now" marker.
// Colours come from CSS classes (the CSP forbids inline styles; presentation attributes only).
import type { BandwidthSample, ExceptionWindow } from '../api.js';
import { clock, rate } from '../format.js';

export interface ChartProps {
  samples: BandwidthSample[];
  windows: ExceptionWindow[];
  /** The limit ahead of now outside exception windows (bytes/s, null: unlimited). */
  baseLimit: number | null;
  /** The limit in force now. */
  limit: number | null;
  spanMs: number;
  now: number;
}

const W = 720;
const H = 260;
const M = { left: 72, right: 14, top: 14, bottom: 30 };

function niceMax(v: number): number {
  const KiB = 1024;
  if (v <= KiB) return KiB;
  const exp = Math.pow(2, Math.floor(Math.log2(v)));
  for (const f of [1, 1.25, 1.5, 2]) if (exp * f >= v) return exp * f;
  return exp * 2;
}

function lineThrough(points: ([number, number] | null)[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
    pen = true;
  }
  return d;
}

export function BandwidthChart(p: ChartProps) {
  const future = p.spanMs / 5;
  const t0 = p.now - p.spanMs;
  const t1 = p.now + future;
  const samples = p.samples.filter((s) => s.t >= t0 - 1000 && s.t <= p.now + 1000);
  const windows = p.windows
    .map((w) => ({ start: Date.parse(w.start), end: Date.parse(w.end), limit: w.limit }))
    .filter((w) => Number.isFinite(w.start) && Number.isFinite(w.end) && w.end > t0 && w.start < t1);
  const limitAt = (t: number): number | null => {
    const w = windows.find((x) => t >= x.start && t < x.end);
    return w ? w.limit : p.baseLimit;
  };

  let top = 0;
  for (const s of samples) top = Math.max(top, s.up, s.down, s.limit ?? 0);
  for (const w of windows) top = Math.max(top, w.limit ?? 0);
  top = Math.max(top, p.limit ?? 0, p.baseLimit ?? 0);
  const yMax = niceMax(top * 1.1);

  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (t: number) => M.left + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * pw;
  const y = (v: number) => M.top + ph - (Math.min(v, yMax) / yMax) * ph;

  // Rates: break the line where samples are missing (agent restarted, UI reconnected).
  const series = (dir: 'up' | 'down') => {
    const pts: ([number, number] | null)[] = [];
    let prev: number | null = null;
    for (const s of samples) {
      if (prev !== null && s.t - prev > 2500) pts.push(null);
      pts.push([x(s.t), y(s[dir])]);
      prev = s.t;
    }
    return pts;
  };
  const up = series('up');
  const down = series('down');
  const area = (pts: ([number, number] | null)[]) => {
    const solid = pts.filter((q): q is [number, number] => q !== null);
    if (solid.length < 2) return '';
    return `M${solid[0]![0].toFixed(1)},${y(0)}` + solid.map((q) => `L${q[0].toFixed(1)},${q[1].toFixed(1)}`).join('') + `L${solid[solid.length - 1]![0].toFixed(1)},${y(0)}Z`;
  };

  // The limit: as sampled in the past, as scheduled ahead (stepping at window edges).
  const limitPts: ([number, number] | null)[] = [];
  let last: number | null | undefined;
  const step = (t: number, v: number | null) => {
    if (v === null) {
      if (last !== null && last !== undefined) limitPts.push([x(t), y(last)]);
      limitPts.push(null);
    } else {
      if (last !== undefined && last !== null && last !== v) limitPts.push([x(t), y(last)]);
      limitPts.push([x(t), y(v)]);
    }
    last = v;
  };
  for (const s of samples) step(s.t, s.limit);
  step(p.now, p.limit);
  const edges = windows.flatMap((w) => [w.start, w.end]).filter((t) => t > p.now && t < t1).sort((a, b) => a - b);
  for (const e of edges) step(e, limitAt(e));
  step(t1, last ?? null);

  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * yMax);
  const minute = 60_000;
  const every = p.spanMs <= 2 * minute ? 15_000 : p.spanMs <= 5 * minute ? minute : 2 * minute;
  const xTicks: number[] = [];
  for (let t = Math.ceil(t0 / every) * every; t <= t1; t += every) xTicks.push(t);

  const lastSample = samples[samples.length - 1];
  const desc =
    `Upload ${rate(lastSample?.up ?? 0)}, download ${rate(lastSample?.down ?? 0)} now; limit ${rate(p.limit)}.` +
    (windows.length ? ` Exception windows: ${windows.map((w) => `${clock(w.start)}–${clock(w.end)} at ${rate(w.limit)}`).join(', ')}.` : '');

  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="bw-chart-title bw-chart-desc" data-testid="bandwidth-chart">
      <title id="bw-chart-title">Bandwidth over the last {Math.round(p.spanMs / minute)} minutes</title>
      <desc id="bw-chart-desc">{desc}</desc>
      {windows.map((w) => (
        <rect
          key={`${w.start}-${w.end}`}
          class="band"
          data-window-start={new Date(w.start).toISOString()}
          x={x(w.start)}
          y={M.top}
          width={Math.max(1, x(w.end) - x(w.start))}
          height={ph}
        >
          <title>
            Exception window {clock(w.start)}–{clock(w.end)}: {rate(w.limit)}
          </title>
        </rect>
      ))}
      {yTicks.map((v) => (
        <g key={`y${v}`}>
          <line class="grid" x1={M.left} x2={W - M.right} y1={y(v)} y2={y(v)} />
          <text class="tick" x={M.left - 8} y={y(v) + 4} text-anchor="end">
            {rate(v)}
          </text>
        </g>
      ))}
      {xTicks.map((t) => (
        <text key={`x${t}`} class="tick" x={x(t)} y={H - 10} text-anchor="middle">
          {clock(t, every < minute)}
        </text>
      ))}
      <path class="area area-down" d={area(down)} />
      <path class="area area-up" d={area(up)} />
      <path class="series series-down" d={lineThrough(down)} data-series="down" />
      <path class="series series-up" d={lineThrough(up)} data-series="up" />
      <path class="limit" d={lineThrough(limitPts)} data-series="limit" />
      <line class="now" x1={x(p.now)} x2={x(p.now)} y1={M.top} y2={M.top + ph} />
      <text class="tick now-label" x={x(p.now) + 4} y={M.top + 10}>
        now
      </text>
      <rect class="frame" x={M.left} y={M.top} width={pw} height={ph} />
    </svg>
  );
}

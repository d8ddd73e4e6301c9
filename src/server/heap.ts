// CPU over memory for the reference server's own process (`axis-server`, the demo server's
// utility process). With V8's default growth the server's old generation limit sits ~24 MB above
// its ~17 MB live size, which is within a young generation's worth of it: V8 then starts the next
// incremental marking as soon as the last one ends. In benchmark 3 the server ran 150 full
// collections for 48 scavenges, ~4 CPU-seconds of marking on V8's helper threads. A growth of
// 300 % puts the limit at four times the live size: the same run had 18.2 instead of 22.8-28.7
// server CPU-seconds (docs/benchmarks.md, "This round (eighth session)"). Not for the agent (its
// RSS has a budget: src/agent/heap.ts), nor where the server shares a process with the agent
// (scripts/start.js without Electron).
import v8 from 'node:v8';

/** Heap growth allowed over the live size after a full collection, in percent. */
export const SERVER_HEAP_GROWING_PERCENT = 300;

/** Applies the growth factor in this process (V8 reads it at every heap-limit computation). */
export function tuneServerHeap(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`);
}

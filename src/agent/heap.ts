// Memory over speed for the agent process. What an agent holds live is small (tens of MiB for
// tens of thousands of files); what makes its RSS large is garbage V8 lets pile up while
// gigabytes stream through in chunks, because on a machine with plenty of RAM its heap may grow
// to four times the live size before a full collection. A fixed heap cap would bound that but
// would also crash an agent with a very large tree; a smaller growth factor keeps the heap
// near the live size whatever that is, for a little more GC time (docs/benchmarks.md, "Memory").
import v8 from 'node:v8';

/** Heap growth allowed over the live size after a full collection, in percent. */
export const HEAP_GROWING_PERCENT = 30;

/**
 * V8 flags that only take effect when given at process start (the young generation's size is
 * fixed when the heap is made): the Electron shell passes them to the agent's utility process,
 * and `npm start`/benchmarks to `node bin/axis-agent.js`.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * Applies the growth factor in this process (V8 reads it at every heap-limit computation),
 * unless the process was started with a growth factor of its own (node's command line or
 * NODE_OPTIONS): that one is kept.
 */
export function tuneHeap(): void {
  if (!heapGrowthGiven(process.execArgv, process.env.NODE_OPTIONS)) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/** Whether node's arguments or NODE_OPTIONS set V8's heap growth (--heap-growing-percent, any spelling). */
export function heapGrowthGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
}

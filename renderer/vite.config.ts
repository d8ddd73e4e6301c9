// Builds the UI into dist/renderer/ (served by the agent's control API at `/`).
// Strict CSP on the served pages (docs/control-api.md): no inline scripts or styles, so
// everything is emitted as external files and nothing is inlined into index.html.
//
// Development: AXIS_AGENT_URL=http://127.0.0.1:PORT npx vite --config renderer/vite.config.ts
// serves the UI with hot reload and passes /api and /ui to that running agent (as its own
// origin, which the agent's Host/Origin checks require); open /ui/login?code=… from
// `axis-agent ui --print` on the Vite port to get the session cookie.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ProxyOptions } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const agent = process.env.AXIS_AGENT_URL ? new URL(process.env.AXIS_AGENT_URL).origin : undefined;

function toAgent(target: string): ProxyOptions {
  return {
    target,
    changeOrigin: true,
    configure: (proxy) => {
      proxy.on('proxyReq', (req) => {
        if (req.getHeader('origin')) req.setHeader('origin', target);
      });
    },
  };
}

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  // Vite 8 transforms TS/JSX with Oxc: Preact's automatic runtime, no Babel, no plugin.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  server: agent ? { host: '127.0.0.1', proxy: { '/api': toAgent(agent), '/ui': toAgent(agent) } } : { host: '127.0.0.1' },
  build: {
    outDir: path.resolve(here, '../dist/renderer'),
    emptyOutDir: true,
    assetsDir: 'assets',
    // No data: URIs for scripts/styles, no inline module-preload polyfill.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
  },
});

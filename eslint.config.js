// Lint rules, including the layering of the architecture guide:
// core has no I/O and imports nothing of ours but core; engine never imports Electron;
// server shares only core (and native) with the rest.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noElectron = { name: 'electron', message: 'Only src/main may import Electron.' };
const noElectronStore = { name: 'electron-store', message: 'Only src/main may import electron-store.' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/build/**', 'renderer/dist/**', 'coverage/**', 'release/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', structuredClone: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noElectron, noElectronStore],
        patterns: [
          { group: ['node:fs', 'node:fs/*', 'fs', 'node:net', 'node:http', 'node:https', 'node:child_process', 'better-sqlite3', 'got', 'chokidar'], message: 'src/core is pure logic: no I/O.' },
          { group: ['../engine/*', '../api/*', '../agent/*', '../server/*', '../main/*'], message: 'src/core imports only src/core.' },
        ],
      }],
    },
  },
  {
    files: ['src/engine/**/*.ts', 'src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noElectron, noElectronStore],
        patterns: [{ group: ['../agent/*', '../server/*', '../main/*'], message: 'engine/api depend only downwards (core, api).' }],
      }],
    },
  },
  {
    files: ['src/agent/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noElectron, noElectronStore],
        patterns: [{ group: ['../server/*', '../main/*'], message: 'the agent never imports the server or Electron main.' }],
      }],
    },
  },
  {
    // The UI (renderer/src): browser code that talks to the agent only over the control API.
    files: ['renderer/src/**/*.ts', 'renderer/src/**/*.tsx'],
    languageOptions: {
      globals: {
        window: 'readonly', document: 'readonly', location: 'readonly', history: 'readonly', navigator: 'readonly',
        fetch: 'readonly', EventSource: 'readonly', addEventListener: 'readonly', removeEventListener: 'readonly',
        HTMLElement: 'readonly', HTMLHeadingElement: 'readonly', Event: 'readonly', MessageEvent: 'readonly',
        Response: 'readonly', RequestInit: 'readonly', requestAnimationFrame: 'readonly',
      },
    },
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noElectron, noElectronStore],
        patterns: [
          { group: ['node:*', 'fs', 'path', 'os', 'child_process'], message: 'renderer code runs in the browser: no Node modules.' },
          { group: ['**/src/*', '../../src/**', '../../../src/**'], message: 'the renderer talks to the agent only over the control API (docs/control-api.md).' },
        ],
      }],
    },
  },
  {
    files: ['src/server/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noElectron, noElectronStore],
        patterns: [{ group: ['../engine/*', '../agent/*', '../api/*', '../main/*'], message: 'the server shares only src/core (and native/).' }],
      }],
    },
  },
);

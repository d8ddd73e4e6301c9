// Where the agent keeps its state (src/agent/home.ts) and how tokens are stored (config.ts).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tokensFromJson, tokensToJson } from '../../src/agent/config.js';
import { defaultHome, resolveHome } from '../../src/agent/home.js';

describe('defaultHome', () => {
  it('Linux: $XDG_CONFIG_HOME/axis-agent, else ~/.config/axis-agent', () => {
    expect(defaultHome({ XDG_CONFIG_HOME: '/x/cfg' }, 'linux', '/home/u')).toBe('/x/cfg/axis-agent');
    expect(defaultHome({}, 'linux', '/home/u')).toBe('/home/u/.config/axis-agent');
    expect(defaultHome({ XDG_CONFIG_HOME: 'relative' }, 'linux', '/home/u')).toBe('/home/u/.config/axis-agent');
  });

  it('macOS: ~/Library/Application Support/AXIS CloudSync Agent', () => {
    expect(defaultHome({}, 'darwin', '/Users/u')).toBe('/Users/u/Library/Application Support/AXIS CloudSync Agent');
  });

  it('Windows: %APPDATA%\\AXIS CloudSync Agent', () => {
    expect(defaultHome({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32', 'C:\\Users\\u')).toBe('C:\\Users\\u\\AppData\\Roaming\\AXIS CloudSync Agent');
    expect(defaultHome({}, 'win32', 'C:\\Users\\u')).toBe('C:\\Users\\u\\AppData\\Roaming\\AXIS CloudSync Agent');
  });
});

describe('resolveHome', () => {
  it('--home wins over AXIS_AGENT_HOME, which wins over the default; always absolute', () => {
    expect(resolveHome('/a', { AXIS_AGENT_HOME: '/b' })).toBe('/a');
    expect(resolveHome(undefined, { AXIS_AGENT_HOME: '/b' })).toBe('/b');
    expect(resolveHome('rel', {})).toBe(path.resolve('rel'));
    expect(path.isAbsolute(resolveHome(undefined, {}))).toBe(true);
  });
});

describe('stored tokens', () => {
  it('round-trip, and anything malformed reads as "no tokens"', () => {
    const t = { kind: 'oauth2' as const, accessToken: 'a', refreshToken: 'r', expiresAt: Date.UTC(2030, 0, 1), scope: 'full' };
    expect(tokensFromJson(JSON.parse(JSON.stringify(tokensToJson(t))))).toEqual(t);
    expect(tokensFromJson({ kind: 'v1_session', access_token: 's' })).toEqual({ kind: 'v1_session', accessToken: 's', refreshToken: undefined, expiresAt: undefined, scope: undefined });
    expect(tokensFromJson(undefined)).toBeUndefined();
    expect(tokensFromJson({ kind: 'oauth2' })).toBeUndefined();
    expect(tokensFromJson({ kind: 'magic', access_token: 'a' })).toBeUndefined();
  });
});

// Small shared pieces: the screen heading (focus target after navigation), status badges,
// messages announced to screen readers, and a helper for buttons that run a command.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, type AgentStatus, type RootStatus, type State } from '../api.js';

export function ScreenHeading({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // After a route change, focus the new screen's heading (not on first paint of the app).
    if (document.activeElement && document.activeElement !== document.body) ref.current?.focus();
  }, []);
  return (
    <h1 id="screen-title" tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

export type Tone = 'ok' | 'busy' | 'paused' | 'warn' | 'error' | 'off';

export function Badge({ tone, children }: { tone: Tone; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

export interface Overall {
  tone: Tone;
  label: string;
}

export function overallStatus(s: State | null, connected: boolean): Overall {
  if (!connected || !s) return { tone: 'off', label: 'Agent not connected' };
  if (s.login.state === 'twostep') return { tone: 'busy', label: 'Signing in' };
  if (s.login.state !== 'logged_in') return { tone: 'off', label: 'Signed out' };
  const st = s.status;
  if (!st || !st.running) return { tone: 'off', label: 'Not running' };
  if (s.settings.paused || (st.roots.length > 0 && st.roots.every((r) => r.paused))) return { tone: 'paused', label: 'Paused' };
  if (st.roots.some((r) => r.state === 'error')) return { tone: 'error', label: 'Errors' };
  if (s.collisions > 0) return { tone: 'warn', label: `${s.collisions} collision${s.collisions === 1 ? '' : 's'}` };
  if (st.roots.some((r) => r.state === 'offline')) return { tone: 'off', label: 'Offline' };
  if (isSyncing(st)) return { tone: 'busy', label: 'Syncing' };
  return { tone: 'ok', label: 'Synced' };
}

export function isSyncing(st: AgentStatus): boolean {
  return st.transfers.length > 0 || st.roots.some((r) => r.state === 'syncing' || r.state === 'starting' || r.queued > 0);
}

export function rootStatus(r: RootStatus): Overall {
  if (r.paused || r.state === 'paused') return { tone: 'paused', label: 'Paused' };
  if (r.state === 'error') return { tone: 'error', label: 'Error' };
  if (r.state === 'offline') return { tone: 'off', label: 'Offline' };
  if (r.state === 'stopped') return { tone: 'off', label: 'Stopped' };
  if (r.collisions > 0) return { tone: 'warn', label: 'Collisions' };
  if (r.synced) return { tone: 'ok', label: 'Synced' };
  return { tone: 'busy', label: 'Syncing' };
}

/** A message region: polite for results, assertive (role=alert) for errors. */
export function Notice({ kind, children, id }: { kind: 'info' | 'error' | 'ok'; children: ComponentChildren; id?: string }) {
  if (kind === 'error') {
    return (
      <p class="notice notice-error" role="alert" id={id}>
        {children}
      </p>
    );
  }
  return (
    <p class={`notice notice-${kind}`} role="status" id={id}>
      {children}
    </p>
  );
}

export interface Action {
  busy: boolean;
  error: string | null;
  message: string | null;
  run(fn: () => Promise<string | void>): Promise<void>;
  clear(): void;
}

/** Runs one command at a time; keeps its result text or error for a Notice. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  return {
    busy,
    error,
    message,
    clear: () => {
      setError(null);
      setMessage(null);
    },
    run: async (fn) => {
      setBusy(true);
      setError(null);
      setMessage(null);
      try {
        const m = await fn();
        if (m) setMessage(m);
      } catch (err) {
        setError(errorText(err));
      } finally {
        setBusy(false);
      }
    },
  };
}

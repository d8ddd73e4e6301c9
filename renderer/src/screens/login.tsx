// Sign-in: server, username, password; the untrusted-certificate step (fingerprint to compare,
// then confirm); the two-step code (authenticator app, email or SMS) with wrong-code errors and
// tries left, and resend for email/SMS. The step comes from the live LoginState, so a reload
// keeps it.
import { useRef, useState } from 'preact/hooks';
import { api, ApiError, errorText, type LoginState } from '../api.js';
import { applyState } from '../live.js';
import { Notice } from '../components/ui.js';

type TwoStep = Extract<LoginState, { state: 'twostep' }>;

export function LoginScreen({ login, defaultServer }: { login: LoginState; defaultServer: string | null }) {
  if (login.state === 'twostep') return <CodeStep login={login} />;
  return <PasswordStep error={login.state === 'logged_out' ? (login.error ?? null) : null} defaultServer={login.server ?? defaultServer} />;
}

function PasswordStep({ error, defaultServer }: { error: string | null; defaultServer: string | null }) {
  const [server, setServer] = useState(defaultServer ?? 'https://');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [fingerprint, setFingerprint] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);

  const submit = async (trust?: string) => {
    setBusy(true);
    setFailure(null);
    try {
      const r = await api.login({ server: server.trim(), username: username.trim(), password, ...(trust ? { trust_fingerprint: trust } : {}) });
      setFingerprint(null);
      setPassword('');
      applyState({ login: r.login });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'untrusted_certificate' && typeof err.body.fingerprint === 'string') {
        setFingerprint(err.body.fingerprint);
      } else if (err instanceof ApiError && err.code === 'invalid_credentials') {
        setFailure('The username or password is not right.');
      } else {
        setFailure(errorText(err));
      }
    } finally {
      setBusy(false);
    }
  };

  if (fingerprint) {
    return (
      <section class="login card" aria-labelledby="login-title">
        <h1 id="login-title">Check the server's certificate</h1>
        <p>
          The certificate of <strong>{server}</strong> is not signed by an authority this computer trusts. Compare its fingerprint with the one your
          administrator gave you. Continue only if they are the same.
        </p>
        <p class="label" id="fp-label">
          SHA-256 fingerprint
        </p>
        <p class="fingerprint" aria-labelledby="fp-label" data-testid="fingerprint">
          {fingerprint}
        </p>
        {failure && <Notice kind="error">{failure}</Notice>}
        <div class="actions">
          <button type="button" class="primary" disabled={busy} onClick={() => void submit(fingerprint)}>
            Trust this certificate and sign in
          </button>
          <button type="button" disabled={busy} onClick={() => setFingerprint(null)}>
            Cancel
          </button>
        </div>
      </section>
    );
  }

  return (
    <section class="login card" aria-labelledby="login-title">
      <h1 id="login-title">Sign in to AXIS CloudSync</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label for="login-server">Server address</label>
        <input id="login-server" name="server" type="url" required autoComplete="url" spellcheck={false} value={server} onInput={(e) => setServer(e.currentTarget.value)} />
        <label for="login-username">Username or email</label>
        <input id="login-username" name="username" type="text" required autoComplete="username" spellcheck={false} value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        <label for="login-password">Password</label>
        <input id="login-password" name="password" type="password" required autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        {(failure ?? error) && <Notice kind="error">{failure ?? error}</Notice>}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </section>
  );
}

/**
 * The agent's `hint` is either a destination (a masked address or phone number) or a sentence
 * of its own; a destination goes into our sentence, a sentence is shown as it is.
 */
function modeText(l: TwoStep): { title: string; hint: string } {
  const hint = l.hint.trim();
  const destination = hint !== '' && !/\s/.test(hint);
  switch (l.mode) {
    case 'authenticator':
      return { title: 'Enter the code from your authenticator app', hint: 'Open the authenticator app you set up for this account and type the 6-digit code it shows now.' };
    case 'email':
      return {
        title: 'Enter the code we emailed you',
        hint: `${destination ? `We sent a code to ${hint}.` : hint || 'We sent a code to your email address.'} It may take a minute to arrive.`,
      };
    case 'sms':
      return { title: 'Enter the code we sent by SMS', hint: destination ? `We sent a code by text message to ${hint}.` : hint || 'We sent a code to your phone by text message (SMS).' };
  }
}

function CodeStep({ login }: { login: TwoStep }) {
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const text = modeText(login);

  const submit = async () => {
    setBusy(true);
    setFailure(null);
    setInfo(null);
    try {
      const r = await api.loginCode(code.replace(/\s/g, ''));
      applyState({ login: r.login });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_auth_code') {
        const left = typeof err.body.tries_left === 'number' ? err.body.tries_left : null;
        setCode('');
        if (left === 0) {
          applyState({ login: { state: 'logged_out', server: login.server, error: 'Too many wrong codes. Sign in again.' } });
          return;
        }
        setFailure(`That code is not right.${left !== null ? ` ${left} ${left === 1 ? 'try' : 'tries'} left.` : ''}`);
        input.current?.focus();
      } else {
        setFailure(errorText(err));
      }
    } finally {
      setBusy(false);
    }
  };

  const resend = async () => {
    setBusy(true);
    setFailure(null);
    try {
      const r = await api.resend();
      applyState({ login: r.login });
      setInfo(login.mode === 'sms' ? 'A new code is on its way by SMS.' : 'A new code is on its way by email.');
    } catch (err) {
      setFailure(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const cancel = async () => {
    try {
      const r = await api.logout();
      applyState({ login: r.login });
    } catch (err) {
      setFailure(errorText(err));
    }
  };

  return (
    <section class="login card" aria-labelledby="login-title">
      <h1 id="login-title">{text.title}</h1>
      <p id="code-hint" data-testid="code-hint">
        {text.hint}
      </p>
      <p class="muted">
        Signing in as <strong>{login.username}</strong> to {login.server}
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label for="login-code">Verification code</label>
        <input
          id="login-code"
          ref={input}
          name="code"
          class="code"
          type="text"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9 ]*"
          maxLength={10}
          required
          aria-describedby="code-hint"
          aria-invalid={failure ? true : undefined}
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
        {failure && <Notice kind="error">{failure}</Notice>}
        {info && <Notice kind="info">{info}</Notice>}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Verify
          </button>
          {login.mode !== 'authenticator' && (
            <button type="button" disabled={busy} onClick={() => void resend()}>
              Send a new code
            </button>
          )}
          <button type="button" disabled={busy} onClick={() => void cancel()}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

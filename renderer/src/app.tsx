// The app shell: header with the overall status (announced politely), navigation, the screen
// of the route; the sign-in flow while not signed in.
import { ScreenHeading, overallStatus, Badge } from './components/ui.js';
import { useLive } from './live.js';
import { useRoute } from './router.js';
import { LoginScreen } from './screens/login.js';
import { defaultScreen, screens } from './screens/index.js';

export function App() {
  const live = useLive();
  const route = useRoute();
  const s = live.state;
  const connected = live.connection === 'open' || (live.connection === 'connecting' && !!s);
  const overall = overallStatus(s, connected);

  let body;
  if (live.connection === 'unauthorized') {
    body = (
      <section class="card" aria-labelledby="screen-title">
        <ScreenHeading>Not connected to the agent</ScreenHeading>
        <p>This window has no access to the agent. Open the app from the tray icon, or run this command and open the address it prints:</p>
        <pre class="command">axis-agent ui --print</pre>
      </section>
    );
  } else if (!s) {
    body = (
      <p class="muted" role="status">
        Connecting to the agent…
      </p>
    );
  } else if (s.login.state !== 'logged_in') {
    body = <LoginScreen login={s.login} defaultServer={s.settings.server} />;
  } else {
    const screen = screens.find((x) => x.id === route) ?? screens.find((x) => x.id === defaultScreen)!;
    const View = screen.view;
    body = (
      <div class="layout">
        <nav aria-label="Main" class="nav">
          <ul>
            {screens.map((x) => {
              const n = x.badge?.(s) ?? 0;
              return (
                <li key={x.id}>
                  <a href={`#/${x.id}`} aria-current={x.id === screen.id ? 'page' : undefined} data-screen={x.id}>
                    <span>{x.title}</span>
                    {n > 0 && (
                      <span class="count">
                        {n}
                        <span class="sr-only"> open</span>
                      </span>
                    )}
                  </a>
                </li>
              );
            })}
          </ul>
        </nav>
        <main id="main" class="main" aria-labelledby="screen-title" data-screen={screen.id}>
          <View key={screen.id} live={live} />
        </main>
      </div>
    );
  }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">
          <svg viewBox="0 0 24 24" class="logo" aria-hidden="true">
            <path d="M7 18h10a4 4 0 0 0 .6-7.96A6 6 0 0 0 6.1 9.2 4.5 4.5 0 0 0 7 18z" />
          </svg>
          AXIS CloudSync
        </span>
        <span class="top-status" role="status" aria-live="polite" data-testid="overall-status">
          <Badge tone={overall.tone}>{overall.label}</Badge>
          {live.connection === 'reconnecting' && <span class="muted small"> Reconnecting…</span>}
        </span>
      </header>
      {body}
    </>
  );
}

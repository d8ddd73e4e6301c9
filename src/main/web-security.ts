// The window's security rules as pure functions: which URLs are the agent's, where the
// control API's bearer token may go, where the window may navigate. See docs/desktop.md.

/** The origin of a URL, or undefined when it is not a URL with one (about:, data:, garbage). */
export function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/** True when url is on exactly the agent's origin (scheme, host and port). */
export function isAgentUrl(url: string, agentOrigin: string | undefined): boolean {
  return agentOrigin !== undefined && originOf(url) === agentOrigin;
}

/**
 * Request headers with the control API's token added, for requests to the agent's origin only.
 * Any other request keeps its headers, minus an Authorization header naming our token (which
 * nothing should ever send elsewhere).
 */
export function withAgentAuthorization(
  headers: Record<string, string>,
  url: string,
  agent: { origin: string; token: string } | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === 'authorization') {
      if (agent && v.includes(agent.token)) continue;
    }
    out[k] = v;
  }
  if (agent && isAgentUrl(url, agent.origin)) {
    for (const k of Object.keys(out)) if (k.toLowerCase() === 'authorization') delete out[k];
    out.Authorization = `Bearer ${agent.token}`;
  }
  return out;
}

/** The window may only move within the agent's origin (in-page routes, reloads). */
export function navigationAllowed(url: string, agentOrigin: string | undefined): boolean {
  return isAgentUrl(url, agentOrigin);
}

/** The UI's URL for a route ('collisions', 'activity', 'login'): a hash route of the one-page app. */
export function windowUrl(base: string, route?: string): string {
  const u = new URL(base);
  u.hash = route ? `#/${route.replace(/^[#/]+/, '')}` : '';
  return u.toString();
}

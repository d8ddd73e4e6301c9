// When to show a native notification: once per new event (new collisions, a lost login), never
// again for the same one however many State updates repeat it. Pure; the memory is carried by
// the caller from one State to the next (and survives agent restarts, which live in main).
import type { AgentStateView } from './agent-state.js';
import { authProblem } from './tray-model.js';

export interface NotifyMemory {
  /** Open collisions in the last State that counted (undefined: none seen yet since launch). */
  collisions: number | undefined;
  /** The auth problem already notified (undefined: none pending). */
  auth: string | undefined;
  /** The login state of the last State (undefined: none seen yet since launch). */
  login: AgentStateView['login']['state'] | undefined;
}

export const INITIAL_NOTIFY_MEMORY: NotifyMemory = Object.freeze({ collisions: undefined, auth: undefined, login: undefined });

export interface NotificationModel {
  kind: 'collisions' | 'auth';
  title: string;
  body: string;
  /** Where a click on it leads in the window (a route of the UI). */
  route: string;
}

export interface NotifyDecision {
  notifications: NotificationModel[];
  memory: NotifyMemory;
}

export function decideNotifications(memory: NotifyMemory, state: AgentStateView | undefined): NotifyDecision {
  const notifications: NotificationModel[] = [];
  let { collisions, auth } = memory;
  if (!state) return { notifications, memory: { ...memory } };

  // A lost login: the agent was signed in (or just started with stored credentials) and is now
  // signed out with a reason. A sign-in the user is doing in the window (wrong codes, a code
  // that came too late) ends the same way but is no news to them.
  const problem = authProblem(state);
  const userWasSigningIn = memory.login === 'twostep' || memory.login === 'logged_out';
  if (problem !== undefined && problem !== auth && !userWasSigningIn) {
    notifications.push({
      kind: 'auth',
      title: 'AXIS CloudSync needs you to sign in again',
      body: `${problem}. Syncing is stopped until you sign in.`,
      route: 'login',
    });
  }
  auth = problem;

  // Collision counts are trusted only while the engine runs for a logged-in account: a State
  // from a starting agent or a logged-out one says nothing about the collisions on disk.
  if (state.login.state === 'logged_in' && state.status !== null) {
    const now = Math.max(0, Math.floor(state.collisions));
    if (collisions === undefined) {
      if (now > 0) {
        notifications.push({
          kind: 'collisions',
          title: now === 1 ? '1 collision to resolve' : `${now} collisions to resolve`,
          body: 'Files changed here and on the server at the same time. Choose which version to keep.',
          route: 'collisions',
        });
      }
    } else if (now > collisions) {
      const added = now - collisions;
      notifications.push({
        kind: 'collisions',
        title: added === 1 ? 'New collision' : `${added} new collisions`,
        body:
          now > added
            ? `${now} collisions are waiting. Choose which versions to keep.`
            : added === 1
              ? 'A file changed here and on the server at the same time. Choose which version to keep.'
              : 'Files changed here and on the server at the same time. Choose which versions to keep.',
        route: 'collisions',
      });
    }
    collisions = now;
  }
  return { notifications, memory: { collisions, auth, login: state.login.state } };
}

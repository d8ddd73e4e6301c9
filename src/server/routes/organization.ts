// Placeholder: filled in by the route module's owner.
import type { ServerContext } from '../context.js';
import type { Router } from '../http.js';

export function registerOrganizationRoutes(_r: Router, _ctx: ServerContext): void {}

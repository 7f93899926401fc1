/** `setAdmin`: makes a member admin or takes the role back; answers `groupChanged`. */

import { setAdminFrameSchema } from '@parley/protocol';
import { setAdmin } from '../domain/groups.js';
import { groupChangeRoute } from '../middleware/group-change-route.js';
import { type DepsProvider, depsFromEnvironment, groupChangeDeps } from '../runtime.js';

export function createSetAdminHandler(deps: DepsProvider) {
  return groupChangeRoute(setAdminFrameSchema, deps, () => groupChangeDeps(deps()), setAdmin);
}

export const handler = createSetAdminHandler(depsFromEnvironment('set-admin'));

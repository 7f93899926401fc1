/** `createGroup`: creates the group, the caller its admin; answers `groupChanged`. */

import { createGroupFrameSchema } from '@parley/protocol';
import { createGroup } from '../domain/groups.js';
import { groupChangeRoute } from '../middleware/group-change-route.js';
import { type DepsProvider, depsFromEnvironment, groupChangeDeps } from '../runtime.js';

export function createCreateGroupHandler(deps: DepsProvider) {
  return groupChangeRoute(createGroupFrameSchema, deps, () => groupChangeDeps(deps()), createGroup);
}

export const handler = createCreateGroupHandler(depsFromEnvironment('create-group'));

/** `addMembers`: adds members to a group; answers `groupChanged`. */

import { addMembersFrameSchema } from '@parley/protocol';
import { addMembers } from '../domain/groups.js';
import { groupChangeRoute } from '../middleware/group-change-route.js';
import { type DepsProvider, depsFromEnvironment, groupChangeDeps } from '../runtime.js';

export function createAddMembersHandler(deps: DepsProvider) {
  return groupChangeRoute(addMembersFrameSchema, deps, () => groupChangeDeps(deps()), addMembers);
}

export const handler = createAddMembersHandler(depsFromEnvironment('add-members'));

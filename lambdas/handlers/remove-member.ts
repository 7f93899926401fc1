/** `removeMember`: removes a member from a group, or the caller itself (leaving); answers `groupChanged`. */

import { removeMemberFrameSchema } from '@parley/protocol';
import { removeMember } from '../domain/groups.js';
import { groupChangeRoute } from '../middleware/group-change-route.js';
import { type DepsProvider, depsFromEnvironment, groupChangeDeps } from '../runtime.js';

export function createRemoveMemberHandler(deps: DepsProvider) {
  return groupChangeRoute(removeMemberFrameSchema, deps, () => groupChangeDeps(deps()), removeMember);
}

export const handler = createRemoveMemberHandler(depsFromEnvironment('remove-member'));

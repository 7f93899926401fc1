/** `setTitle`: renames a group; answers `groupChanged`. */

import { setTitleFrameSchema } from '@parley/protocol';
import { setTitle } from '../domain/groups.js';
import { groupChangeRoute } from '../middleware/group-change-route.js';
import { type DepsProvider, depsFromEnvironment, groupChangeDeps } from '../runtime.js';

export function createSetTitleHandler(deps: DepsProvider) {
  return groupChangeRoute(setTitleFrameSchema, deps, () => groupChangeDeps(deps()), setTitle);
}

export const handler = createSetTitleHandler(depsFromEnvironment('set-title'));

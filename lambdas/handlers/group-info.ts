/** `groupInfo`: a page of a group's current members with their roles and receipts, for a member. */

import { type GroupFrame, type GroupInfoFrame, groupInfoFrameSchema } from '@parley/protocol';
import { describeGroup } from '../domain/group-info.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createGroupInfoHandler(deps: DepsProvider) {
  const serve = ({ frame, caller }: RouteEvent<GroupInfoFrame>): Promise<GroupFrame> =>
    describeGroup(deps(), caller.userId, frame);
  return frameRoute(groupInfoFrameSchema, deps, serve);
}

export const handler = createGroupInfoHandler(depsFromEnvironment('group-info'));

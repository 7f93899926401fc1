/**
 * The builder of the membership routes (createGroup, addMembers, removeMember, setTitle,
 * setAdmin): each validates its frame, makes its change as the caller and answers
 * `groupChanged`.
 */
import type { GroupChangedFrame } from '@parley/protocol';
import type { z } from 'zod';
import type { Actor, GroupChangeDeps, GroupChangeResult } from '../domain/group-changes.js';
import { frameRoute, type RouteDeps, type RouteHandler } from './websocket-route.js';

/** A frame of a membership action: it names its group and carries the requestId it is answered with. */
interface GroupChangeFrame {
  action: string;
  requestId: string;
  conversationId: string;
}

export function groupChangeRoute<Schema extends z.ZodType<GroupChangeFrame>>(
  schema: Schema,
  deps: () => RouteDeps,
  changeDeps: () => GroupChangeDeps,
  change: (deps: GroupChangeDeps, actor: Actor, frame: z.infer<Schema>) => Promise<GroupChangeResult>,
): RouteHandler {
  return frameRoute(schema, deps, async ({ frame, caller, logger }): Promise<GroupChangedFrame> => {
    const { conversationId, requestId } = frame;
    const actor = { userId: caller.userId, deviceId: caller.deviceId };
    const { seq, duplicate, retries } = await change(changeDeps(), actor, frame);
    logger.info('group changed', { action: frame.action, conversationId, seq, duplicate, retries });
    return { type: 'groupChanged', requestId, conversationId, seq, duplicate };
  });
}

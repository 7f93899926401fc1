/**
 * The handler module of each function of `definitions/functions.ts`, for what runs the
 * handlers in this process: the local stack and the tests. Each is built over the deps it
 * is given, as the Lambda bundle builds it over the deps of its environment. The CDK stack
 * bundles the same modules by their file (`handlerFileOf`), without importing them.
 */
import type { DefinitionOf, FunctionId } from '../definitions/functions.js';
import { createAckHandler } from '../lambdas/handlers/ack.js';
import { createAddMembersHandler } from '../lambdas/handlers/add-members.js';
import { createAuthorizerHandler } from '../lambdas/handlers/authorizer.js';
import { createBlockHandler } from '../lambdas/handlers/block.js';
import { createBlocksHandler } from '../lambdas/handlers/blocks.js';
import { createConnectHandler } from '../lambdas/handlers/connect.js';
import { createConversationsHandler } from '../lambdas/handlers/conversations.js';
import { createCreateGroupHandler } from '../lambdas/handlers/create-group.js';
import { createDefaultHandler } from '../lambdas/handlers/default.js';
import { createDisconnectHandler } from '../lambdas/handlers/disconnect.js';
import { createFanoutHandler } from '../lambdas/handlers/fanout.js';
import { createGroupInfoHandler } from '../lambdas/handlers/group-info.js';
import { createPresenceNotifierHandler } from '../lambdas/handlers/presence-notifier.js';
import { createRegisterPushHandler } from '../lambdas/handlers/register-push.js';
import { createRemoveMemberHandler } from '../lambdas/handlers/remove-member.js';
import { createSendHandler } from '../lambdas/handlers/send.js';
import { createSetAdminHandler } from '../lambdas/handlers/set-admin.js';
import { createSetTitleHandler } from '../lambdas/handlers/set-title.js';
import { createSubscribePresenceHandler } from '../lambdas/handlers/subscribe-presence.js';
import { createSyncHandler } from '../lambdas/handlers/sync.js';
import { createTypingHandler } from '../lambdas/handlers/typing.js';
import { createUnblockHandler } from '../lambdas/handlers/unblock.js';
import { createUnregisterPushHandler } from '../lambdas/handlers/unregister-push.js';
import type { DepsProvider } from '../lambdas/runtime.js';
import type { KinesisBatchHandler } from './event-source-mapping/index.js';
import type { RequestAuthorizerHandler, WebSocketRouteHandler } from './gateway/index.js';

/** What each kind of trigger invokes, as the local gateway and event source mapping call it. */
interface HandlerOfTrigger {
  route: WebSocketRouteHandler;
  authorizer: RequestAuthorizerHandler;
  stream: KinesisBatchHandler;
}

/** The handler a function's trigger invokes. */
export type HandlerOf<Id extends FunctionId> = HandlerOfTrigger[DefinitionOf<Id>['trigger']['kind']];

/** Builds each function's handler over the deps: every function of the registry, and nothing else. */
export const HANDLER_BUILDERS: { [Id in FunctionId]: (deps: DepsProvider) => HandlerOf<Id> } = {
  authorizer: createAuthorizerHandler,
  connect: createConnectHandler,
  disconnect: createDisconnectHandler,
  default: createDefaultHandler,
  send: createSendHandler,
  ack: createAckHandler,
  sync: createSyncHandler,
  conversations: createConversationsHandler,
  typing: createTypingHandler,
  'subscribe-presence': createSubscribePresenceHandler,
  'create-group': createCreateGroupHandler,
  'add-members': createAddMembersHandler,
  'remove-member': createRemoveMemberHandler,
  'set-title': createSetTitleHandler,
  'set-admin': createSetAdminHandler,
  'group-info': createGroupInfoHandler,
  block: createBlockHandler,
  unblock: createUnblockHandler,
  blocks: createBlocksHandler,
  'register-push': createRegisterPushHandler,
  'unregister-push': createUnregisterPushHandler,
  fanout: createFanoutHandler,
  'presence-notifier': createPresenceNotifierHandler,
  // A stand-in that takes every batch and pushes nothing, until the push notifier lands
  // (lambdas/handlers/push-notifier.ts): the merge replaces this line with its builder.
  'push-notifier': () => async () => ({ batchItemFailures: [] }),
};

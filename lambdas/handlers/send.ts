/** `send`: sequences the message exactly once, hands it to delivery, answers `sent`. */

import { isGroupConversationId, type SendFrame, type SentFrame, sendFrameSchema } from '@parley/protocol';
import { MetricName } from '../../definitions/metrics.js';
import { assertMayWrite } from '../domain/blocking.js';
import { assertCurrentMember, resolveSendTarget } from '../domain/conversation.js';
import { countOwnMessage } from '../domain/group-receipts.js';
import type { GroupMemberRecord } from '../domain/ports.js';
import { sendMessage } from '../domain/sequencing.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createSendHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller, logger }: RouteEvent<SendFrame>): Promise<SentFrame> => {
    const conversationId = resolveSendTarget(caller.userId, frame);
    const group = isGroupConversationId(conversationId);
    // The membership the last attempt read: the one its claimed seq proves still held.
    const sender: { member?: GroupMemberRecord } = {};
    const { message, duplicate, retries } = await sendMessage(deps().sequencing, {
      conversationId,
      senderId: caller.userId,
      senderDeviceId: caller.deviceId,
      clientMessageId: frame.clientMessageId,
      body: frame.body,
      // In each attempt, before the seq is claimed: a group's membership, or a one-to-one
      // conversation's blocks (a block committed before this read refuses the send).
      authorize: group
        ? async () => {
            sender.member = await assertCurrentMember(deps().groups, conversationId, caller.userId);
          }
        : () => assertMayWrite(deps().privacy, caller.userId, conversationId),
    });
    // The sender counts as having received and read its own message.
    if (sender.member) await countOwnMessage(deps(), conversationId, sender.member, message.seq);
    const { metrics } = deps();
    if (duplicate) metrics.record(MetricName.DuplicatesSuppressed, 1);
    // Most sends never retry: a zero would only add an EMF line to every send.
    if (retries > 0) metrics.record(MetricName.SequencingRetries, retries);
    logger.info('sent', { conversationId, seq: message.seq, duplicate, retries });
    return {
      type: 'sent',
      requestId: frame.requestId,
      conversationId,
      clientMessageId: message.clientMessageId,
      seq: message.seq,
      messageId: message.messageId,
      serverTs: message.serverTs,
      duplicate,
    };
  };
  return frameRoute(sendFrameSchema, deps, serve);
}

export const handler = createSendHandler(depsFromEnvironment('send'));

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
  const serve = async ({ frame, caller, logger, admission }: RouteEvent<SendFrame>): Promise<SentFrame> => {
    const conversationId = resolveSendTarget(caller.userId, frame);
    const group = isGroupConversationId(conversationId);
    // The membership the last attempt read: the one its claimed seq proves still held.
    const sender: { member?: GroupMemberRecord } = {};
    // Run together with the first read of the last seq (and the fast path's read of the
    // connections), not one after another: each is a round trip on the message's path. A
    // one-to-one conversation's blocks are read once: a block committed before this read
    // refuses the send, and every send after the `blocked` answer reads it.
    const checks = group
      ? admission
      : Promise.all([admission, assertMayWrite(deps().privacy, caller.userId, conversationId)]).then(
          () => {},
        );
    checks.catch(() => {}); // awaited by the send; a refusal is answered from there
    const { message, duplicate, retries } = await sendMessage(deps().sequencing, {
      conversationId,
      senderId: caller.userId,
      senderDeviceId: caller.deviceId,
      clientMessageId: frame.clientMessageId,
      body: frame.body,
      checks,
      // Absent is true: a 1.0 to 1.4 client gets its own message back as before.
      ...(frame.echo === false ? { noEchoTo: caller.connectionId } : {}),
      // In each attempt, after the last seq is read and before it is claimed: a removal
      // committed before that read is seen (docs/adr/0007-groups.md).
      ...(group
        ? {
            authorize: async () => {
              sender.member = await assertCurrentMember(deps().groups, conversationId, caller.userId);
            },
          }
        : {}),
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
  return frameRoute(sendFrameSchema, deps, serve, { readsAlongsideLimit: true });
}

export const handler = createSendHandler(depsFromEnvironment('send'));

/**
 * The push work (protocol 1.4, docs/adr/0016-push.md): wakes the devices of a message's
 * recipients that are not connected. It runs on its own stream consumer, after delivery
 * and apart from it, so a push that fails or takes seconds never delays a connected device.
 *
 * Per batch, a conversation's text messages become one push per device: the newest message
 * stands for the others. A device that got a push for the conversation within the
 * coalescing window gets none (the window item in push-devices); a device with a live
 * connection gets none (it has the message).
 */
import { createHash } from 'node:crypto';
import {
  isGroupConversationId,
  type MessageEventFrame,
  membersOf,
  PUSH_PREVIEW_CHARS,
  PUSH_TEXT_WITHOUT_PREVIEW,
  type PushKind,
  type PushPayload,
} from '@parley/protocol';
import pLimit from 'p-limit';
import { MetricName, type MetricsRecorder } from '../../definitions/metrics.js';
import type {
  ConnectionStore,
  GroupStore,
  Logger,
  PrivacyStore,
  PushOutcome,
  PushRegistration,
  PushRegistrationStore,
  PushSender,
  ReceiptStore,
} from './ports.js';

/** The push settings the notifier reads (`PushSettings` of `lambdas/config.ts`). */
export interface PushNotifierSettings {
  preview: boolean;
  coalesceWindowMs: number;
  ttlSeconds: number;
}

export interface PushNotifierDeps {
  registrations: Pick<
    PushRegistrationStore,
    'listRegistrations' | 'claimPushWindow' | 'deleteRegistrationIfUnchanged'
  >;
  connections: Pick<ConnectionStore, 'listConnections'>;
  groups: Pick<GroupStore, 'getGroup'>;
  receipts: Pick<ReceiptStore, 'getReceipt'>;
  privacy: Pick<PrivacyStore, 'findBlocks'>;
  /** The sender of each kind of address that is on; a kind without one is counted failed. */
  senderFor: (kind: PushKind) => PushSender | undefined;
  metrics: MetricsRecorder;
  logger: Logger;
  now: () => number;
  settings: PushNotifierSettings;
  /** Recipients worked on at once. */
  concurrency: number;
}

/** One stream record, as the handler decodes it. */
export interface PushRecord {
  /** Its sequence number: what the stream is told to retry from. */
  id: string;
  /** Its data, as text. */
  data: string;
}

/** A text message to push, and the record it came in. */
interface NewestMessage {
  recordId: string;
  message: MessageEventFrame;
}

/**
 * Pushes for one batch; answers the ids of the records to retry: for each conversation
 * whose reads or writes failed (DynamoDB unavailable), the record of its newest message.
 * What a push service answers is never retried here: the sender has retried already.
 */
export async function pushBatch(deps: PushNotifierDeps, records: readonly PushRecord[]): Promise<string[]> {
  const newest = newestTextMessages(records, deps.logger);
  const retry: string[] = [];
  await Promise.all(
    [...newest.values()].map(async ({ recordId, message }) => {
      try {
        await pushMessage(deps, message);
      } catch (error) {
        deps.logger.warn('push work failed: the stream retries it', {
          conversationId: message.conversationId,
          seq: message.seq,
          error,
        });
        retry.push(recordId);
      }
    }),
  );
  return retry;
}

/**
 * The newest text message of each conversation in the records. Membership events and
 * erased messages wake nobody; a record that is not a message is logged and skipped, as no
 * retry could make it one.
 */
export function newestTextMessages(
  records: readonly PushRecord[],
  logger: Logger,
): Map<string, NewestMessage> {
  const newest = new Map<string, NewestMessage>();
  for (const record of records) {
    const message = parseMessage(record.data);
    if (!message) {
      logger.warn('skipped a record that is not a message event', { recordId: record.id });
      continue;
    }
    if ((message.kind ?? 'text') !== 'text' || message.erased || message.body === undefined) continue;
    const known = newest.get(message.conversationId);
    if (!known || known.message.seq < message.seq) {
      newest.set(message.conversationId, { recordId: record.id, message });
    }
  }
  return newest;
}

function parseMessage(data: string): MessageEventFrame | undefined {
  try {
    const event = JSON.parse(data) as Partial<MessageEventFrame> | null;
    if (
      event?.type === 'message' &&
      typeof event.conversationId === 'string' &&
      typeof event.senderId === 'string' &&
      typeof event.seq === 'number'
    ) {
      return event as MessageEventFrame;
    }
  } catch {
    // not JSON: skipped by the caller
  }
  return undefined;
}

/** A recipient of a message, and the seq from which the conversation's messages are its to read. */
interface Recipient {
  userId: string;
  /** The seq before the first message it may see (a group member's joining event); 0 in a one-to-one conversation. */
  visibleAfterSeq: number;
}

/** Pushes one message to every device of its recipients that is not connected. */
async function pushMessage(deps: PushNotifierDeps, message: MessageEventFrame): Promise<void> {
  const recipients = await recipientsOf(deps, message);
  const limit = pLimit(deps.concurrency);
  // Registrations and connections first: most users of a group have no device to wake.
  const waiting = (
    await Promise.all(recipients.map((recipient) => limit(() => devicesToWake(deps, recipient.userId))))
  ).map((devices, index) => ({ recipient: recipients[index] as Recipient, devices }));
  const toWake = waiting.filter(({ devices }) => devices.length > 0);
  if (toWake.length === 0) return;
  const blockers = isGroupConversationId(message.conversationId)
    ? await blockersOf(
        deps.privacy,
        message.senderId,
        toWake.map(({ recipient }) => recipient.userId),
      )
    : new Set<string>();
  await Promise.all(
    toWake
      .filter(({ recipient }) => !blockers.has(recipient.userId))
      .map(({ recipient, devices }) => limit(() => pushToDevices(deps, message, recipient, devices))),
  );
}

/**
 * A one-to-one conversation's other member; a group's current members but the sender. A
 * group that is not there (erased since) has no one to wake.
 */
async function recipientsOf(deps: PushNotifierDeps, message: MessageEventFrame): Promise<Recipient[]> {
  const pair = membersOf(message.conversationId);
  if (pair) {
    return pair
      .filter((userId) => userId !== message.senderId)
      .map((userId) => ({ userId, visibleAfterSeq: 0 }));
  }
  const group = await deps.groups.getGroup(message.conversationId);
  return (group?.members ?? [])
    .filter((member) => member.userId !== message.senderId)
    .map((member) => ({ userId: member.userId, visibleAfterSeq: member.joinedSeq - 1 }));
}

/** The user's registrations whose device has no live connection. */
async function devicesToWake(deps: PushNotifierDeps, userId: string): Promise<PushRegistration[]> {
  const registrations = await deps.registrations.listRegistrations(userId);
  if (registrations.length === 0) return [];
  const connected = new Set(
    (await deps.connections.listConnections(userId)).map((connection) => connection.deviceId),
  );
  return registrations.filter((registration) => !connected.has(registration.deviceId));
}

/**
 * Those of `recipientIds` who block the sender. A block does not change a group (the
 * blocked user's messages still reach the blocker's open app, docs/adr/0013), but a push
 * is the server reaching out to a closed one: it should not do that for a blocked user.
 */
async function blockersOf(
  privacy: PushNotifierDeps['privacy'],
  senderId: string,
  recipientIds: readonly string[],
): Promise<Set<string>> {
  const blocks = await privacy.findBlocks(
    recipientIds.map((blockerId) => ({ blockerId, blockedId: senderId })),
  );
  return new Set(blocks.map((block) => block.blockerId));
}

/** Pushes to one recipient's devices, each that has not had a push of this conversation within the window. */
async function pushToDevices(
  deps: PushNotifierDeps,
  message: MessageEventFrame,
  recipient: Recipient,
  devices: readonly PushRegistration[],
): Promise<void> {
  const { readSeq } = await deps.receipts.getReceipt(message.conversationId, recipient.userId);
  const payload = payloadOf(message, recipient, readSeq, deps.settings.preview);
  const options = {
    collapseKey: collapseKeyOf(message.conversationId),
    ttlSeconds: deps.settings.ttlSeconds,
  };
  for (const device of devices) {
    const claimed = await deps.registrations.claimPushWindow(
      recipient.userId,
      device.deviceId,
      message.conversationId,
      deps.now(),
      deps.settings.coalesceWindowMs,
    );
    if (!claimed) {
      deps.metrics.record(MetricName.PushesCoalesced, 1);
      continue;
    }
    const outcome = await sendOne(deps, device, payload, options);
    await recordOutcome(deps, device, outcome);
  }
}

/** What the push says: the newest message, the recipient's unread count, the text the deployment allows. */
export function payloadOf(
  message: MessageEventFrame,
  recipient: Recipient,
  readSeq: number,
  preview: boolean,
): PushPayload {
  const seen = Math.max(readSeq, recipient.visibleAfterSeq);
  return {
    type: 'message',
    conversationId: message.conversationId,
    seq: message.seq,
    senderId: message.senderId,
    // The push is for this message, so at least it is unread, whatever the watermark says.
    unread: Math.max(1, message.seq - seen),
    text: preview && message.body ? previewOf(message.body) : PUSH_TEXT_WITHOUT_PREVIEW,
  };
}

/** The start of a body, never cutting a surrogate pair in two. */
function previewOf(body: string): string {
  return Array.from(body).slice(0, PUSH_PREVIEW_CHARS).join('');
}

/**
 * The same for every push of one conversation, so that a push service keeps only the
 * newest one for an unreachable device. RFC 8030 §5.4 allows a `Topic` of at most 32
 * base64url characters: 24 bytes of SHA-256 are exactly 32, and do not reveal the
 * conversation id to the push service.
 */
export function collapseKeyOf(conversationId: string): string {
  return createHash('sha256').update(conversationId).digest().subarray(0, 24).toString('base64url');
}

/** A sender's outcome; a sender that throws (a defect, not a push service's answer) is counted failed. */
async function sendOne(
  deps: PushNotifierDeps,
  device: PushRegistration,
  payload: PushPayload,
  options: { collapseKey: string; ttlSeconds: number },
): Promise<PushOutcome> {
  const sender = deps.senderFor(device.address.kind);
  if (!sender) {
    deps.logger.warn('no sender for this kind of push address: is it configured?', {
      kind: device.address.kind,
    });
    return 'failed';
  }
  try {
    return await sender.send(device, payload, options);
  } catch (error) {
    deps.logger.error('a push sender threw', { kind: device.address.kind, error });
    return 'failed';
  }
}

async function recordOutcome(
  deps: PushNotifierDeps,
  device: PushRegistration,
  outcome: PushOutcome,
): Promise<void> {
  if (outcome === 'sent') {
    deps.metrics.record(MetricName.PushesSent, 1);
    return;
  }
  if (outcome !== 'gone') {
    deps.metrics.record(MetricName.PushesFailed, 1);
    return;
  }
  // Only the address that was gone: the device may have registered a new one since.
  const removed = await deps.registrations.deleteRegistrationIfUnchanged(
    device.userId,
    device.deviceId,
    device.registeredAt,
  );
  if (removed) deps.metrics.record(MetricName.PushRegistrationsRemoved, 1);
}

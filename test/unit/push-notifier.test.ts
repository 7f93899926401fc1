import type { MessageEventFrame, PushPayload } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { MetricName } from '../../definitions/metrics.js';
import { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';
import type { GroupRecord, PushOutcome, PushRegistration, PushSender } from '../../lambdas/domain/ports.js';
import {
  collapseKeyOf,
  type PushNotifierDeps,
  type PushRecord,
  pushBatch,
} from '../../lambdas/domain/push-notifier.js';
import {
  InMemoryConnectionStore,
  InMemoryConversationListStore,
  InMemoryPrivacyStore,
  InMemoryPushRegistrationStore,
  InMemoryReceiptStore,
} from '../support/in-memory/index.js';

const NOW = 1_764_900_000_000;
const WINDOW_MS = 5000;

interface Sent {
  userId: string;
  deviceId: string;
  payload: PushPayload;
  options: { collapseKey: string; ttlSeconds: number };
}

function setUp(options: { preview?: boolean; outcome?: PushOutcome; groups?: GroupRecord[] } = {}) {
  let now = NOW;
  const sent: Sent[] = [];
  const sender: PushSender = {
    send: vi.fn(async (registration, payload, sendOptions) => {
      sent.push({
        userId: registration.userId,
        deviceId: registration.deviceId,
        payload,
        options: sendOptions,
      });
      return options.outcome ?? 'sent';
    }),
  };
  const metrics = new InMemoryMetrics();
  const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const deps = {
    registrations: new InMemoryPushRegistrationStore(),
    connections: new InMemoryConnectionStore({ now: () => now }),
    groups: { getGroup: async (id: string) => options.groups?.find((group) => group.conversationId === id) },
    receipts: new InMemoryReceiptStore(),
    privacy: new InMemoryPrivacyStore(new InMemoryConversationListStore()),
    senderFor: (kind: string) => (kind === 'webpush' ? sender : undefined),
    metrics,
    logger,
    now: () => now,
    settings: { preview: options.preview ?? false, coalesceWindowMs: WINDOW_MS, ttlSeconds: 3600 },
    concurrency: 4,
  } satisfies PushNotifierDeps;
  return {
    deps,
    sent,
    sender,
    metrics,
    logger,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

type Deps = ReturnType<typeof setUp>['deps'];

async function register(deps: Deps, userId: string, deviceId: string, kind: 'webpush' | 'apns' = 'webpush') {
  const registration: PushRegistration = {
    userId,
    deviceId,
    address:
      kind === 'webpush'
        ? {
            kind,
            endpoint: `https://fcm.googleapis.com/fcm/send/${userId}-${deviceId}`,
            keys: { p256dh: 'B'.repeat(87), auth: 'A'.repeat(22) },
          }
        : { kind, token: 'ab12' },
    registeredAt: NOW,
  };
  await deps.registrations.putRegistration(registration);
  return registration;
}

async function connect(deps: Deps, userId: string, deviceId: string) {
  await deps.connections.putConnection({
    userId,
    deviceId,
    connectionId: `conn-${userId}-${deviceId}`,
    connectedAt: NOW,
    expiresAt: NOW / 1000 + 3600,
  });
}

let nextRecord = 0;
function messageRecord(
  fields: Partial<MessageEventFrame> & { conversationId: string; seq: number },
): PushRecord {
  nextRecord += 1;
  const message: MessageEventFrame = {
    type: 'message',
    messageId: `m${nextRecord}`,
    clientMessageId: `c${nextRecord}`,
    senderId: 'alice',
    senderDeviceId: 'laptop',
    kind: 'text',
    body: `hello ${fields.seq}`,
    serverTs: NOW,
    ...fields,
  };
  return { id: `seq-${nextRecord}`, data: JSON.stringify(message) };
}

const dm = (seq: number, fields: Partial<MessageEventFrame> = {}) =>
  messageRecord({ conversationId: 'dm:alice:bob', seq, ...fields });

function groupOf(
  conversationId: string,
  members: Array<{ userId: string; joinedSeq?: number }>,
): GroupRecord {
  return {
    conversationId,
    title: 'team',
    createdBy: 'alice',
    createdAt: NOW,
    members: members.map(({ userId, joinedSeq }) => ({
      userId,
      admin: false,
      joinedSeq: joinedSeq ?? 1,
      joinedAt: NOW,
    })),
    former: [{ userId: 'dave', joinedSeq: 1, removedSeq: 2 }],
    everyone: { deliveredSeq: 0, readSeq: 0 },
  };
}

describe('the push work of a batch', () => {
  it('pushes the message to each registered device of the recipient, with the payload and options it sets', async () => {
    const { deps, sent, metrics } = setUp();
    await register(deps, 'bob', 'phone');
    await register(deps, 'bob', 'tablet');

    const retry = await pushBatch(deps, [dm(1)]);

    expect(retry).toEqual([]);
    const payload: PushPayload = {
      type: 'message',
      conversationId: 'dm:alice:bob',
      seq: 1,
      senderId: 'alice',
      unread: 1,
      text: 'New message',
    };
    const options = { collapseKey: collapseKeyOf('dm:alice:bob'), ttlSeconds: 3600 };
    expect(sent).toEqual([
      { userId: 'bob', deviceId: 'phone', payload, options },
      { userId: 'bob', deviceId: 'tablet', payload, options },
    ]);
    expect(metrics.sum(MetricName.PushesSent)).toBe(2);
  });

  it('pushes nothing to a device with a live connection, nor to the sender’s own devices', async () => {
    const { deps, sent } = setUp();
    await register(deps, 'bob', 'phone');
    await register(deps, 'bob', 'laptop');
    await register(deps, 'alice', 'phone');
    await connect(deps, 'bob', 'laptop');

    await pushBatch(deps, [dm(1)]);

    expect(sent.map(({ userId, deviceId }) => `${userId}/${deviceId}`)).toEqual(['bob/phone']);
  });

  it('makes a burst of one conversation in one batch one push, of its newest text message', async () => {
    const { deps, sent } = setUp();
    await register(deps, 'bob', 'phone');

    await pushBatch(deps, [dm(1), dm(3), dm(2), { id: 'not-json', data: '{' }]);

    expect(sent.map(({ payload }) => [payload.seq, payload.unread])).toEqual([[3, 3]]);
  });

  it('pushes no membership event, erased message or other event', async () => {
    const { deps, sent, logger } = setUp({
      groups: [groupOf('grp:01', [{ userId: 'alice' }, { userId: 'bob' }])],
    });
    await register(deps, 'bob', 'phone');

    await pushBatch(deps, [
      messageRecord({
        conversationId: 'grp:01',
        seq: 1,
        kind: 'members-added',
        members: ['bob'],
        body: undefined,
      }),
      dm(2, { erased: true, body: undefined }),
      { id: 'receipt', data: JSON.stringify({ type: 'receipt', conversationId: 'dm:alice:bob' }) },
    ]);

    expect(sent).toEqual([]);
    expect(logger.warn).toHaveBeenCalledWith('skipped a record that is not a message event', {
      recordId: 'receipt',
    });
  });

  it('coalesces the pushes of a conversation within the window, and pushes again after it', async () => {
    const { deps, sent, metrics, advance } = setUp();
    await register(deps, 'bob', 'phone');

    await pushBatch(deps, [dm(1)]);
    advance(WINDOW_MS - 1);
    await pushBatch(deps, [dm(2)]);
    advance(1);
    await pushBatch(deps, [dm(3)]);

    expect(sent.map(({ payload }) => payload.seq)).toEqual([1, 3]);
    expect(metrics.sum(MetricName.PushesCoalesced)).toBe(1);
  });

  it('counts the messages after the recipient’s read watermark as unread', async () => {
    const { deps, sent } = setUp();
    await register(deps, 'bob', 'phone');
    await deps.receipts.raiseWatermark('dm:alice:bob', 'bob', 'read', 6);

    await pushBatch(deps, [dm(9)]);

    expect(sent[0]?.payload.unread).toBe(3);
  });

  it('shows the start of the body when previews are on, never splitting a character', async () => {
    const { deps, sent } = setUp({ preview: true });
    await register(deps, 'bob', 'phone');
    const body = `${'a'.repeat(119)}😀 and more`;

    await pushBatch(deps, [dm(1, { body })]);

    expect(sent[0]?.payload.text).toBe(`${'a'.repeat(119)}😀`);
  });

  it('pushes a group message to the current members but the sender, and not to one who blocks the sender', async () => {
    const group = groupOf('grp:02', [
      { userId: 'alice' },
      { userId: 'bob' },
      { userId: 'carol', joinedSeq: 8 },
      { userId: 'erin' },
    ]);
    const { deps, sent } = setUp({ groups: [group] });
    for (const userId of ['alice', 'bob', 'carol', 'dave', 'erin']) await register(deps, userId, 'phone');
    await deps.privacy.block({ blockerId: 'erin', blockedId: 'alice' }, NOW);

    await pushBatch(deps, [messageRecord({ conversationId: 'grp:02', seq: 10 })]);

    // carol joined at 8: the messages before it are not hers to read.
    expect(sent.map(({ userId, payload }) => [userId, payload.unread])).toEqual([
      ['bob', 10],
      ['carol', 3],
    ]);
  });

  it('deletes a registration the push service says is gone, unless the device registered again since', async () => {
    const { deps, metrics } = setUp({ outcome: 'gone' });
    await register(deps, 'bob', 'phone');
    const tablet = await register(deps, 'bob', 'tablet');
    const readsTablet = deps.registrations.listRegistrations.bind(deps.registrations);
    // The tablet registers a new address while its push is under way.
    vi.spyOn(deps.registrations, 'listRegistrations').mockImplementationOnce(async (userId) => {
      const found = await readsTablet(userId);
      await deps.registrations.putRegistration({ ...tablet, registeredAt: NOW + 1 });
      return found;
    });

    await pushBatch(deps, [dm(1)]);

    expect((await deps.registrations.listRegistrations('bob')).map((r) => r.deviceId)).toEqual(['tablet']);
    expect(metrics.sum(MetricName.PushRegistrationsRemoved)).toBe(1);
  });

  it.each(['throttled', 'failed'] as const)('counts a push %s as failed and goes on', async (outcome) => {
    const { deps, metrics } = setUp({ outcome });
    await register(deps, 'bob', 'phone');

    expect(await pushBatch(deps, [dm(1)])).toEqual([]);
    expect(metrics.sum(MetricName.PushesFailed)).toBe(1);
    expect(await deps.registrations.listRegistrations('bob')).toHaveLength(1);
  });

  it('counts failed a registration of a kind with no sender, and a sender that throws', async () => {
    const { deps, sender, metrics } = setUp();
    await register(deps, 'bob', 'phone', 'apns');
    await register(deps, 'bob', 'laptop');
    vi.mocked(sender.send).mockRejectedValueOnce(new Error('defect'));

    expect(await pushBatch(deps, [dm(1)])).toEqual([]);
    expect(metrics.sum(MetricName.PushesFailed)).toBe(2);
  });

  it('gives back for retry the newest record of a conversation whose reads failed, and pushes the others', async () => {
    const { deps, sent } = setUp();
    await register(deps, 'bob', 'phone');
    await register(deps, 'carol', 'phone');
    const reads = deps.registrations.listRegistrations.bind(deps.registrations);
    vi.spyOn(deps.registrations, 'listRegistrations').mockImplementation(async (userId) => {
      if (userId === 'bob') throw Object.assign(new Error('unavailable'), { name: 'ServiceUnavailable' });
      return reads(userId);
    });
    const failing = [dm(1), dm(2)];

    const retry = await pushBatch(deps, [
      ...failing,
      messageRecord({ conversationId: 'dm:alice:carol', seq: 1 }),
    ]);

    expect(retry).toEqual([failing[1]?.id]);
    expect(sent.map(({ userId }) => userId)).toEqual(['carol']);
  });
});

describe('the collapse key', () => {
  it('is 32 base64url characters, the same for a conversation and different across conversations', () => {
    expect(collapseKeyOf('dm:alice:bob')).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(collapseKeyOf('dm:alice:bob')).toBe(collapseKeyOf('dm:alice:bob'));
    expect(collapseKeyOf('dm:alice:bob')).not.toBe(collapseKeyOf('dm:alice:carol'));
  });
});

/**
 * Convergence: three users with two devices each exchange messages and acks in a random
 * interleaving, with devices dropping (sometimes with a send in flight) and reconnecting.
 * Each device keeps the local state a real client keeps (messages by seq, receipts, the
 * conversation list and its cursor) and catches up as docs/protocol.md says: `conversations`
 * since its cursor, then `sync` from its highest contiguous seq. Afterwards every device
 * must hold exactly the stored history, watermarks and conversation list.
 *
 * The script is drawn from a seeded PRNG: the seed is in the test name, and
 * `PARLEY_CONVERGENCE_SEED=<seed>` replays the same script (the network still decides
 * the exact interleaving, so a replay may need a few runs).
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { ConversationSummary, Message, Receipt, ReceiptKind } from '@parley/protocol';
import { directConversationId, membersOf } from '@parley/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../bench/seeded-random.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { connectAs, startTestStack, uniqueId } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

const SEED = seedFrom(process.env.PARLEY_CONVERGENCE_SEED);
const SCRIPT_STEPS = 90;
/** Steps run at once in one round, each on a different device: 1 to this many. */
const MAX_ROUND_SIZE = 4;
/** Small pages, so that catching up pages through `hasMore` often. */
const LIST_PAGE = 1;
const SYNC_PAGE = 5;
const MAX_ATTEMPTS = 5;
/** The requestId prefix of the test's own look-ups, which the device's model ignores. */
const PROBE = 'probe-';

function seedFrom(text: string | undefined): number {
  if (!text) return randomInt(2 ** 31);
  if (!/^\d{1,10}$/.test(text)) throw new Error(`PARLEY_CONVERGENCE_SEED: must be an integer, got ${text}`);
  return Number(text);
}

type StepKind = 'send' | 'ack' | 'drop' | 'sendAndDrop' | 'reconnect';
/** How often each kind of step is drawn. */
const STEP_WEIGHTS: Array<[StepKind, number]> = [
  ['send', 0.45],
  ['ack', 0.3],
  ['drop', 0.1],
  ['sendAndDrop', 0.05],
  ['reconnect', 0.1],
];

function stepKindOf(draw: number): StepKind {
  let threshold = 0;
  for (const [kind, weight] of STEP_WEIGHTS) {
    threshold += weight;
    if (draw < threshold) return kind;
  }
  return 'reconnect';
}

type Watermarks = { deliveredSeq: number; readSeq: number };

/** What one device knows, as a real client keeps it. */
interface Device {
  name: string;
  userId: string;
  deviceId: string;
  /** The open connection, if any. */
  client: TestClient | undefined;
  /** Every connection it ever had, with how many of its frames were absorbed. */
  connections: Array<{ client: TestClient; absorbed: number }>;
  /** conversationId → seq → message. */
  messages: Map<string, Map<number, Message>>;
  /** conversationId → userId → watermarks. */
  receipts: Map<string, Map<string, Watermarks>>;
  list: Map<string, ConversationSummary>;
  cursor: string | undefined;
  /** Sends that got no answer, retried with the same clientMessageId after reconnecting. */
  outbox: Array<Record<string, unknown>>;
  /** A message arrived under a seq it already held, with other content. */
  conflicts: string[];
}

/** The fields of a message as stored and delivered; `kind` since protocol 1.1 (`text` here). */
const MESSAGE_FIELDS = [
  'conversationId',
  'seq',
  'messageId',
  'clientMessageId',
  'senderId',
  'senderDeviceId',
  'kind',
  'body',
  'serverTs',
] as const;

function messageOf(frame: Record<string, unknown>): Message {
  return Object.fromEntries(MESSAGE_FIELDS.map((field) => [field, frame[field]])) as unknown as Message;
}

function sameMessage(a: Message, b: Message): boolean {
  return MESSAGE_FIELDS.every((field) => a[field] === b[field]);
}

function raise(device: Device, conversationId: string, userId: string, kind: ReceiptKind, seq: number): void {
  const byUser = device.receipts.get(conversationId) ?? new Map<string, Watermarks>();
  device.receipts.set(conversationId, byUser);
  const current = byUser.get(userId) ?? { deliveredSeq: 0, readSeq: 0 };
  const readSeq = kind === 'read' ? Math.max(current.readSeq, seq) : current.readSeq;
  // Reading a message delivers it too.
  byUser.set(userId, {
    deliveredSeq: Math.max(current.deliveredSeq, readSeq, kind === 'delivered' ? seq : 0),
    readSeq,
  });
}

function raiseAll(device: Device, conversationId: string, receipts: Receipt[]): void {
  for (const receipt of receipts) {
    raise(device, conversationId, receipt.userId, 'delivered', receipt.deliveredSeq);
    raise(device, conversationId, receipt.userId, 'read', receipt.readSeq);
  }
}

function store(device: Device, frame: Record<string, unknown>): void {
  const message = messageOf(frame);
  const bySeq = device.messages.get(message.conversationId) ?? new Map<number, Message>();
  device.messages.set(message.conversationId, bySeq);
  const held = bySeq.get(message.seq);
  if (!held) bySeq.set(message.seq, message);
  else if (!sameMessage(held, message)) {
    device.conflicts.push(`seq ${message.seq}: held ${JSON.stringify(held)}, got ${JSON.stringify(message)}`);
  }
}

/** Applies every frame the device received and has not applied yet, in arrival order. */
function absorb(device: Device): void {
  for (const connection of device.connections) {
    while (connection.absorbed < connection.client.received.length) {
      const frame = connection.client.received[connection.absorbed++] as Frame;
      // The test's own look-ups (the authority, the full lists) are not the device's.
      if (typeof frame.requestId === 'string' && frame.requestId.startsWith(PROBE)) continue;
      const conversationId = frame.conversationId as string;
      if (frame.type === 'message') store(device, frame);
      else if (frame.type === 'history') {
        for (const message of frame.messages as Message[]) store(device, { ...message });
        raiseAll(device, conversationId, frame.receipts as Receipt[]);
      } else if (frame.type === 'receipt') {
        raise(device, conversationId, frame.userId as string, frame.kind as ReceiptKind, frame.seq as number);
      } else if (frame.type === 'acked') {
        raise(device, conversationId, device.userId, frame.kind as ReceiptKind, frame.seq as number);
      } else if (frame.type === 'conversations') {
        for (const entry of frame.conversations as ConversationSummary[]) {
          const known = device.list.get(entry.conversationId);
          if (!known || entry.updatedAt >= known.updatedAt) device.list.set(entry.conversationId, entry);
          raiseAll(device, entry.conversationId, entry.receipts);
        }
        device.cursor = frame.cursor as string;
      }
    }
  }
}

function heldSeqs(device: Device, conversationId: string): number[] {
  return [...(device.messages.get(conversationId)?.keys() ?? [])].sort((a, b) => a - b);
}

function contiguousSeq(device: Device, conversationId: string): number {
  const bySeq = device.messages.get(conversationId);
  let seq = 0;
  while (bySeq?.has(seq + 1)) seq++;
  return seq;
}

function receiptsOf(byUser: Map<string, Watermarks> | undefined, members: readonly string[]): Receipt[] {
  return members.map((userId) => ({ userId, ...(byUser?.get(userId) ?? { deliveredSeq: 0, readSeq: 0 }) }));
}

function sameReceipts(a: Receipt[], b: Receipt[]): boolean {
  return (
    a.length === b.length &&
    a.every((receipt) =>
      b.some(
        (other) =>
          other.userId === receipt.userId &&
          other.deliveredSeq === receipt.deliveredSeq &&
          other.readSeq === receipt.readSeq,
      ),
    )
  );
}

describe('convergence of devices that drop, reconnect and catch up', () => {
  let stack: RunningLocalStack;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(`gives every device the same history, watermarks and conversation list (PARLEY_CONVERGENCE_SEED=${SEED})`, async () => {
    const random = seededRandom(SEED);
    const trace: string[] = [];
    const labels = ['alice', 'bob', 'carol'] as const;
    const users = labels.map((label) => uniqueId(label));
    const labelOf = new Map(users.map((userId, i) => [userId, labels[i] as string]));
    const devices: Device[] = users.flatMap((userId) =>
      ['phone', 'laptop'].map((deviceId) => ({
        name: `${labelOf.get(userId)}.${deviceId}`,
        userId,
        deviceId,
        client: undefined,
        connections: [],
        messages: new Map(),
        receipts: new Map(),
        list: new Map(),
        cursor: undefined,
        outbox: [],
        conflicts: [],
      })),
    );
    const conversationIds = [
      directConversationId(users[0] as string, users[1] as string),
      directConversationId(users[0] as string, users[2] as string),
      directConversationId(users[1] as string, users[2] as string),
    ];
    /** What each clientMessageId was sent as. */
    const sends = new Map<
      string,
      { conversationId: string; senderId: string; senderDeviceId: string; body: string }
    >();
    /** conversationId → userId → the highest watermarks an `acked` answered. */
    const ackedMax = new Map<string, Map<string, Watermarks>>();
    let internalRetries = 0;
    let sequence = 0;

    const online = (device: Device): TestClient => {
      if (!device.client) throw new Error(`${device.name} is offline`);
      return device.client;
    };
    /** A request, retried with the same frame while the server answers `internal`. */
    const ask = async (device: Device, frame: Record<string, unknown>, probe = false): Promise<Frame> => {
      for (let attempt = 1; ; attempt++) {
        const requestId = probe ? `${PROBE}${randomUUID()}` : randomUUID();
        const answer = await online(device).request({ ...frame, requestId }, 15_000);
        absorb(device);
        if (answer.type === 'error' && answer.code === 'internal' && attempt < MAX_ATTEMPTS) {
          internalRetries++;
          continue;
        }
        if (answer.type === 'error') {
          throw new Error(`${device.name} ${String(frame.action)} answered ${JSON.stringify(answer)}`);
        }
        return answer;
      }
    };
    const send = async (device: Device, frame: Record<string, unknown>): Promise<void> => {
      const sent = await ask(device, frame);
      expect(sent).toMatchObject({ type: 'sent', clientMessageId: frame.clientMessageId });
    };
    const ack = async (
      device: Device,
      conversationId: string,
      kind: ReceiptKind,
      seq: number,
    ): Promise<void> => {
      const acked = await ask(device, { action: 'ack', conversationId, kind, seq });
      expect(acked).toMatchObject({ type: 'acked', conversationId, kind });
      expect(acked.seq as number).toBeGreaterThanOrEqual(seq);
      const byUser = ackedMax.get(conversationId) ?? new Map<string, Watermarks>();
      ackedMax.set(conversationId, byUser);
      const current = byUser.get(device.userId) ?? { deliveredSeq: 0, readSeq: 0 };
      byUser.set(device.userId, {
        deliveredSeq: Math.max(current.deliveredSeq, seq),
        readSeq: kind === 'read' ? Math.max(current.readSeq, seq) : current.readSeq,
      });
    };
    /** As docs/protocol.md says: retry unanswered sends, then `conversations` since the cursor, then `sync`. */
    const catchUp = async (device: Device): Promise<void> => {
      while (device.outbox.length > 0) {
        await send(device, device.outbox[0] as Record<string, unknown>);
        device.outbox.shift();
      }
      const moved = new Set<string>();
      for (let hasMore = true; hasMore; ) {
        const page = await ask(device, {
          action: 'conversations',
          limit: LIST_PAGE,
          ...(device.cursor === undefined ? {} : { since: device.cursor }),
        });
        for (const entry of page.conversations as ConversationSummary[]) moved.add(entry.conversationId);
        hasMore = page.hasMore as boolean;
      }
      // A gap in what the device holds also means it missed something.
      for (const conversationId of device.messages.keys()) {
        if (contiguousSeq(device, conversationId) < (heldSeqs(device, conversationId).at(-1) ?? 0)) {
          moved.add(conversationId);
        }
      }
      for (const conversationId of moved) {
        let afterSeq = contiguousSeq(device, conversationId);
        for (let hasMore = true; hasMore; ) {
          const history = await ask(device, { action: 'sync', conversationId, afterSeq, limit: SYNC_PAGE });
          afterSeq = (history.messages as Message[]).at(-1)?.seq ?? afterSeq;
          hasMore = history.hasMore as boolean;
        }
      }
    };
    const connect = async (device: Device): Promise<void> => {
      const client = await connectAs(stack, device.userId, device.deviceId);
      clients.push(client);
      device.client = client;
      device.connections.push({ client, absorbed: 0 });
      await catchUp(device);
    };
    const drop = async (device: Device): Promise<void> => {
      const client = online(device);
      device.client = undefined;
      await client.close();
      absorb(device);
    };

    /** One step of the script; exactly six draws, so that the script depends on the seed alone. */
    const drawStep = (busy: Set<Device>): (() => Promise<void>) | undefined => {
      const [kindDraw, deviceDraw, peerDraw, ackKindDraw, seqDraw, targetDraw] = Array.from(
        { length: 6 },
        random,
      ) as [number, number, number, number, number, number];
      const free = devices.filter((device) => !busy.has(device));
      const up = free.filter((device) => device.client);
      const down = free.filter((device) => !device.client);
      let kind = stepKindOf(kindDraw);
      if (kind === 'reconnect' && down.length === 0) kind = 'send';
      if (kind !== 'reconnect' && up.length === 0) kind = 'reconnect';
      if (kind === 'reconnect' && down.length === 0) return undefined;
      const pool = kind === 'reconnect' ? down : up;
      const device = pool[Math.floor(deviceDraw * pool.length)] as Device;
      busy.add(device);
      const peers = users.filter((userId) => userId !== device.userId);
      const peer = peers[Math.floor(peerDraw * peers.length)] as string;
      const conversationId = directConversationId(device.userId, peer);
      const step = `${++sequence}`;
      if (kind === 'send' || kind === 'sendAndDrop') {
        const clientMessageId = `m${step}-${device.deviceId}`;
        const body = `${device.name} #${step} to ${labelOf.get(peer)}`;
        sends.set(clientMessageId, {
          conversationId,
          senderId: device.userId,
          senderDeviceId: device.deviceId,
          body,
        });
        // Half the sends name the peer, half the conversation.
        const frame = targetDraw < 0.5 ? { to: peer } : { conversationId };
        const sendFrame = { action: 'send', ...frame, clientMessageId, body };
        if (kind === 'send') {
          trace.push(`${step}: ${device.name} sends ${clientMessageId} to ${labelOf.get(peer)}`);
          return () => send(device, sendFrame);
        }
        trace.push(
          `${step}: ${device.name} sends ${clientMessageId} to ${labelOf.get(peer)} and drops at once`,
        );
        return async () => {
          device.outbox.push(sendFrame);
          online(device).sendRaw(JSON.stringify({ ...sendFrame, requestId: `lost-${clientMessageId}` }));
          await drop(device);
        };
      }
      if (kind === 'ack') {
        const ackKind: ReceiptKind = ackKindDraw < 0.5 ? 'delivered' : 'read';
        return async () => {
          absorb(device);
          const held = heldSeqs(device, conversationId);
          const seq = held[Math.floor(seqDraw * held.length)] ?? 0;
          trace.push(`${step}: ${device.name} acks ${ackKind} ${seq} with ${labelOf.get(peer)}`);
          await ack(device, conversationId, ackKind, seq);
        };
      }
      trace.push(`${step}: ${device.name} ${kind === 'drop' ? 'drops' : 'reconnects'}`);
      return kind === 'drop' ? () => drop(device) : () => connect(device);
    };

    const started = Date.now();
    try {
      // Prepare: every device online, with its first (empty) conversation list.
      await Promise.all(devices.map((device) => connect(device)));

      // Act: the script, a few steps at a time.
      for (let steps = 0; steps < SCRIPT_STEPS; ) {
        const size = 1 + Math.floor(random() * MAX_ROUND_SIZE);
        const busy = new Set<Device>();
        const round: Array<() => Promise<void>> = [];
        for (let i = 0; i < size && steps < SCRIPT_STEPS; i++, steps++) {
          const step = drawStep(busy);
          if (step) round.push(step);
        }
        await Promise.all(round.map((step) => step()));
      }
      trace.push(`--- every device reconnects (${Date.now() - started} ms)`);
      await Promise.all(devices.filter((device) => !device.client).map((device) => connect(device)));

      // The authority: what `sync` says is stored, read once nothing is written any more.
      const authority = new Map<string, { messages: Message[]; lastSeq: number; receipts: Receipt[] }>();
      for (const conversationId of conversationIds) {
        const members = membersOf(conversationId) as [string, string];
        const reader = devices.find((device) => device.userId === members[0]) as Device;
        const messages: Message[] = [];
        let history: Frame;
        do {
          history = await ask(
            reader,
            { action: 'sync', conversationId, afterSeq: messages.length, limit: 200 },
            true,
          );
          messages.push(...(history.messages as Message[]).map((message) => messageOf({ ...message })));
        } while (history.hasMore);
        authority.set(conversationId, {
          messages,
          lastSeq: history.lastSeq as number,
          receipts: history.receipts as Receipt[],
        });
      }
      // Quiescence: the list is written by the fanout after delivery; ask (each ask a real
      // round trip) until every user's list shows the authority's last seq and receipts.
      const settled = (userId: string, entries: ConversationSummary[]) =>
        conversationIds
          .filter((conversationId) => membersOf(conversationId)?.includes(userId))
          .every((conversationId) => {
            const wanted = authority.get(conversationId);
            const entry = entries.find((candidate) => candidate.conversationId === conversationId);
            if (!wanted || wanted.lastSeq === 0) return entry === undefined;
            return entry?.lastSeq === wanted.lastSeq && sameReceipts(entry.receipts, wanted.receipts);
          });
      const fullList = async (device: Device): Promise<ConversationSummary[]> => {
        // A probe: a full listing must not move the device's cursor.
        const answer = await ask(device, { action: 'conversations', limit: 100 }, true);
        expect(answer).toMatchObject({ type: 'conversations', hasMore: false });
        return answer.conversations as ConversationSummary[];
      };
      for (const userId of users) {
        const device = devices.find((candidate) => candidate.userId === userId) as Device;
        const deadline = Date.now() + 15_000;
        for (let listed = await fullList(device); !settled(userId, listed); listed = await fullList(device)) {
          if (Date.now() > deadline) {
            throw new Error(
              `${labelOf.get(userId)}'s list never settled: ${JSON.stringify(listed)}; stored: ${JSON.stringify([...authority].map(([id, { lastSeq, receipts }]) => ({ id, lastSeq, receipts })))}`,
            );
          }
          await online(device).request({ action: 'ping' });
        }
      }
      trace.push(`--- every device catches up (${Date.now() - started} ms)`);
      await Promise.all(devices.map((device) => catchUp(device)));
      for (const device of devices) absorb(device);

      // Assess 1: every sent message is stored exactly once, gapless, as its sender sent it.
      const sentAnswers = devices.flatMap((device) =>
        device.connections.flatMap(({ client }) => client.received.filter((frame) => frame.type === 'sent')),
      );
      for (const conversationId of conversationIds) {
        const wanted = authority.get(conversationId) as {
          messages: Message[];
          lastSeq: number;
          receipts: Receipt[];
        };
        const cmids = [...sends]
          .filter(([, sent]) => sent.conversationId === conversationId)
          .map(([cmid]) => cmid);
        expect(wanted.lastSeq, conversationId).toBe(cmids.length);
        expect(
          wanted.messages.map((message) => message.seq),
          conversationId,
        ).toEqual(Array.from({ length: cmids.length }, (_, i) => i + 1));
        expect(wanted.messages.map((message) => message.clientMessageId).sort()).toEqual(cmids.sort());
        for (const message of wanted.messages) {
          const sent = sends.get(message.clientMessageId);
          expect(message).toMatchObject({ ...sent, conversationId });
          const answers = sentAnswers.filter((answer) => answer.clientMessageId === message.clientMessageId);
          expect(answers.length, message.clientMessageId).toBeGreaterThan(0);
          for (const answer of answers) {
            expect(answer).toMatchObject({
              conversationId,
              seq: message.seq,
              messageId: message.messageId,
              serverTs: message.serverTs,
            });
          }
          expect(answers.filter((answer) => answer.duplicate === false).length).toBeLessThanOrEqual(1);
        }
        // Assess 2: the watermarks are the highest the script acked.
        const members = membersOf(conversationId) as [string, string];
        expect(wanted.receipts, `${conversationId} receipts`).toEqual(
          receiptsOf(ackedMax.get(conversationId), members),
        );
      }

      // Assess 3: every device holds exactly the stored history and watermarks, and never
      // received a message whose content disagrees with the stored one.
      for (const device of devices) {
        expect(device.conflicts, device.name).toEqual([]);
        for (const conversationId of conversationIds) {
          const members = membersOf(conversationId) as [string, string];
          const wanted = authority.get(conversationId) as { messages: Message[]; receipts: Receipt[] };
          const held = [...(device.messages.get(conversationId)?.values() ?? [])].sort(
            (a, b) => a.seq - b.seq,
          );
          if (!members.includes(device.userId)) {
            expect(held, `${device.name} outside ${conversationId}`).toEqual([]);
            continue;
          }
          expect(held, `${device.name} history of ${conversationId}`).toEqual(wanted.messages);
          expect(receiptsOf(device.receipts.get(conversationId), members), `${device.name} receipts`).toEqual(
            wanted.receipts,
          );
        }
        for (const { client } of device.connections) {
          for (const frame of client.received) {
            const storedAs = (message: Frame | Message) =>
              authority.get(message.conversationId as string)?.messages[(message.seq as number) - 1];
            if (frame.type === 'message') {
              expect(frame, `${device.name} received`).toEqual({ type: 'message', ...storedAs(frame) });
            }
            if (frame.type === 'history') {
              for (const message of frame.messages as Message[]) {
                expect(message, `${device.name} synced`).toEqual(storedAs(message));
              }
            }
          }
        }
      }

      // Assess 4: both devices of a user list the same conversations, as each device's
      // catch-up built them, and each entry says what is stored.
      for (const userId of users) {
        const [first, second] = devices.filter((device) => device.userId === userId) as [Device, Device];
        const listed = await fullList(first);
        expect(await fullList(second), `${labelOf.get(userId)}'s two devices`).toEqual(listed);
        const updatedAts = listed.map((entry) => entry.updatedAt);
        expect(updatedAts).toEqual([...updatedAts].sort((a, b) => a - b));
        for (const device of [first, second]) {
          const caughtUp = [...device.list.values()].sort((a, b) => a.updatedAt - b.updatedAt);
          expect(caughtUp, `${device.name}'s caught-up list`).toEqual(listed);
        }
        const expected = conversationIds
          .filter((conversationId) => membersOf(conversationId)?.includes(userId))
          .filter((conversationId) => (authority.get(conversationId)?.lastSeq ?? 0) > 0)
          .sort();
        expect(listed.map((entry) => entry.conversationId).sort()).toEqual(expected);
        for (const entry of listed) {
          const wanted = authority.get(entry.conversationId) as {
            messages: Message[];
            lastSeq: number;
            receipts: Receipt[];
          };
          expect(entry).toMatchObject({
            members: membersOf(entry.conversationId),
            lastSeq: wanted.lastSeq,
            lastMessage: wanted.messages.at(-1),
            receipts: wanted.receipts,
          });
        }
      }
      console.info(
        `convergence seed ${SEED}: ${sends.size} messages (${sentAnswers.filter((answer) => answer.duplicate === true).length} answered as duplicates), ${sequence} steps, ${internalRetries} internal retries, ${Date.now() - started} ms`,
      );
    } catch (error) {
      console.error(`convergence failed with seed ${SEED}; the script:\n${trace.join('\n')}`);
      if (error instanceof Error) {
        error.message = `[replay with PARLEY_CONVERGENCE_SEED=${SEED}] ${error.message}`;
      }
      throw error;
    }
  }, 60_000);
});

/**
 * Hostile input against the real local stack: random frames on one connection, frames at
 * and past the size limit, JSON nested 10,000 deep, bodies of every kind of unicode, ids
 * that try to reach other users' conversations, and a flood past the `send` route's throttle.
 * Whatever arrives within API Gateway's 32 KB frame limit, the connection stays open, every
 * frame gets an answer, and the store holds exactly what the valid sends produced; a bigger
 * frame closes the connection with 1009, as in AWS.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId, MAX_FRAME_BYTES, membersOf, typingFrameSchema } from '@parley/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ActionName,
  actionFrames,
  hostileFrameText,
  namesOneOf,
  readableRequestId,
  subjectsOf,
} from '../support/hostile-frames.js';
import { uniqueId, useTestStack } from '../support/stack.js';
import { waitForList } from '../support/wait-for-list.js';
import type { Frame, TestClient } from '../support/ws-client.js';

/** Every message of a conversation, paging with sync. */
async function history(device: TestClient, conversationId: string) {
  const messages: Frame[] = [];
  let last: Frame | undefined;
  for (let afterSeq = 0, more = true; more; ) {
    last = await device.request({ action: 'sync', conversationId, afterSeq, limit: 200 });
    expect(last.type).toBe('history');
    messages.push(...(last.messages as Frame[]));
    afterSeq = (messages.at(-1)?.seq as number | undefined) ?? afterSeq;
    more = last.hasMore as boolean;
  }
  return { messages, lastSeq: last?.lastSeq as number, receipts: last?.receipts as Frame[] };
}

async function expectOpen(device: TestClient) {
  const requestId = randomUUID();
  expect(await device.request({ action: 'ping', requestId })).toEqual({ type: 'pong', requestId });
}

/** The answer type of each action that answers. */
const ANSWER_TYPES: Record<string, string> = {
  send: 'sent',
  ack: 'acked',
  sync: 'history',
  conversations: 'conversations',
  subscribePresence: 'presence',
};
/**
 * The actions a function serves. `ping` is not among them: API Gateway answers it from a
 * template that checks nothing (docs/adr/0009-keep-alive.md).
 */
const ACTIONS: ActionName[] = ['send', 'ack', 'sync', 'conversations', 'typing', 'subscribePresence'];

function parsedObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A typing frame the server serves answers nothing: one the schema takes, into a conversation of the caller. */
function servedTyping(text: string, caller: string): boolean {
  if (Buffer.byteLength(text) > MAX_FRAME_BYTES) return false;
  const frame = typingFrameSchema.safeParse(parsedObject(text));
  return frame.success && (membersOf(frame.data.conversationId)?.includes(caller) ?? false);
}

/**
 * An ack without a readable requestId answers nothing when served and an error otherwise,
 * and which it is depends on the conversation's last seq, which a session does not track:
 * such acks are left to their own test (test/e2e/quiet-acks.test.ts).
 */
function isQuietAck(text: string): boolean {
  return parsedObject(text)?.action === 'ack' && readableRequestId(text) === null;
}

/** One frame of a session and its answers: one, or more when it was sent again after `internal`. */
interface Exchange {
  text: string;
  answers: Frame[];
}

/** Times a frame answered `internal` is sent again, as docs/protocol.md allows a client. */
const INTERNAL_RETRIES = 2;

/** What a session sent, got and read back. */
interface SessionRecord {
  caller: string;
  exchanges: Exchange[];
  /** The error answers without a requestId, in the order they came. */
  nullAnswers: () => Frame[];
  /** What the checks read back: the messages of each conversation, the list. */
  observed: string[];
}

/** A session as the failure message shows it, frame by frame; frames cut to 300 characters. */
function transcript({ caller, exchanges, nullAnswers, observed }: SessionRecord): string {
  const shown = (text: string) =>
    text.length <= 300
      ? JSON.stringify(text)
      : `${JSON.stringify(text.slice(0, 300))}… (${Buffer.byteLength(text)} bytes)`;
  const answered = ({ text, answers }: Exchange) => {
    if (answers.length > 0) return answers.map((answer) => JSON.stringify(answer));
    if (servedTyping(text, caller)) return ['(a typing frame the server serves: no answer)'];
    if (readableRequestId(text) === null) return ['(no readable requestId: its answer has requestId null)'];
    return ['(no answer)'];
  };
  return [
    `The session of ${caller}, frame by frame:`,
    ...exchanges.map(
      (exchange, index) =>
        `${index + 1}. ${shown(exchange.text)}\n   -> ${answered(exchange).join('\n   -> ')}`,
    ),
    `Answers with requestId null: ${JSON.stringify(nullAnswers())}`,
    ...observed,
  ].join('\n');
}

/** A random session: a fresh caller, its two peers, two strangers, and 15 frames. */
const session = fc.stringMatching(/^[a-z]{12}$/).chain((tag) => {
  const caller = `h${tag}`;
  const peers = [`${caller}-b`, `${caller}-c`];
  const strangers = [`${caller}-x`, `${caller}-y`] as const;
  const others = directConversationId(...strangers);
  const frames = actionFrames(caller, {
    peers: fc.constantFrom(...peers),
    conversationIds: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...peers).map((peer) => directConversationId(caller, peer)) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          others,
          others.toUpperCase(),
          `${others}:`,
          `dm:${caller}:${strangers[0]}:x`,
        ),
      },
    ),
  });
  return fc.record({
    caller: fc.constant(caller),
    peers: fc.constant(peers),
    strangers: fc.constant(strangers),
    // Within the frame limit: a bigger frame closes the connection (tested on its own below).
    texts: fc.array(
      fc
        .oneof(...ACTIONS.map((action) => hostileFrameText(frames[action])))
        .filter((text) => Buffer.byteLength(text) <= MAX_FRAME_BYTES && !isQuietAck(text)),
      { minLength: 15, maxLength: 15 },
    ),
  });
});

describe('hostile input over a real WebSocket', () => {
  const { connect } = useTestStack();

  it('answers random frames on one connection with protocol frames, stays open, and stores exactly what the valid sends produced', async () => {
    const allFields = Object.values(actionFrames('x')).map((frames) => frames.fields);
    let last: SessionRecord | undefined;
    await fc.assert(
      fc.asyncProperty(session, async ({ caller, peers, strangers, texts }) => {
        const device = await connect(caller, 'phone');
        const exchanges: Exchange[] = [];
        const observed: string[] = [];
        let unreadable = 0;
        const nullAnswers = () => device.received.filter((f) => f.type === 'error' && f.requestId === null);
        last = { caller, exchanges, nullAnswers, observed };

        // act: one frame at a time, waiting for the answer of each that has a readable requestId
        for (const text of texts) {
          const exchange: Exchange = { text, answers: [] };
          exchanges.push(exchange);
          device.sendRaw(text);
          if (servedTyping(text, caller)) continue;
          const requestId = readableRequestId(text);
          if (requestId === null) {
            unreadable++;
            continue;
          }
          const answerOf = () => device.next((f) => f.requestId === requestId);
          exchange.answers.push(await answerOf());
          // `internal` means the server failed and the client may send the same frame again
          // (docs/protocol.md); a send sent again, with its clientMessageId, is answered with
          // the message if the failed try stored it.
          while (
            exchange.answers.at(-1)?.code === 'internal' &&
            exchange.answers.length <= INTERNAL_RETRIES
          ) {
            device.sendRaw(text);
            exchange.answers.push(await answerOf());
          }
        }
        while (nullAnswers().length < unreadable) {
          await device.next((f) => f.type === 'error' && f.requestId === null);
        }

        // assess: each answer is the action's answer or a clear error
        expect(nullAnswers()).toHaveLength(unreadable);
        for (const { text, answers } of exchanges) {
          const answer = answers.at(-1);
          if (answer === undefined) continue;
          const action = parsedObject(text)?.action;
          if (answer.type === 'error') {
            const subjects = allFields.flatMap((fields) => subjectsOf({ fields }, text));
            expect(['bad_request', 'forbidden']).toContain(answer.code);
            expect(namesOneOf(answer.message as string, subjects), `${answer.message}`).toBe(true);
          } else {
            expect(answer.type).toBe(ANSWER_TYPES[action as string]);
          }
        }
        for (const answer of nullAnswers()) expect(['bad_request', 'forbidden']).toContain(answer.code);

        // assess: the store holds the messages the `sent` answers name, and nothing else. A
        // send of a clientMessageId already answered `sent` in the conversation names that
        // message again (a duplicate); a duplicate of no earlier send is only right for a
        // frame sent again after `internal`, whose failed try stored the message.
        const stored = new Map<
          string,
          Map<number, { messageId: unknown; clientMessageId: unknown; body: unknown }>
        >();
        const firstSent = new Map<string, Frame>();
        for (const { text, answers } of exchanges) {
          const answer = answers.at(-1);
          if (answer?.type !== 'sent') continue;
          const conversationId = answer.conversationId as string;
          const key = JSON.stringify([conversationId, answer.clientMessageId]);
          const first = firstSent.get(key);
          if (first) {
            expect(answer).toMatchObject({ duplicate: true, seq: first.seq, messageId: first.messageId });
            continue;
          }
          if (answer.duplicate) expect(answers.length, 'a duplicate of no earlier send').toBeGreaterThan(1);
          firstSent.set(key, answer);
          const messages = stored.get(conversationId) ?? new Map();
          messages.set(answer.seq as number, {
            messageId: answer.messageId,
            clientMessageId: answer.clientMessageId,
            body: parsedObject(text)?.body,
          });
          stored.set(conversationId, messages);
        }
        // Every conversation the caller could have written to, read strongly consistent:
        // those the model has none in must have no message.
        const reachable = new Set([
          ...peers.map((peer) => directConversationId(caller, peer)),
          ...stored.keys(),
        ]);
        for (const conversationId of reachable) {
          const messages = stored.get(conversationId) ?? new Map();
          const { messages: synced } = await history(device, conversationId);
          const seen = synced.map(({ seq, messageId, clientMessageId }) => ({
            seq,
            messageId,
            clientMessageId,
          }));
          observed.push(`Stored in ${conversationId}: ${JSON.stringify(seen)}`);
          expect(
            synced.map((m) => m.seq),
            `the seqs stored in ${conversationId}`,
          ).toEqual([...messages.keys()].sort((a, b) => a - b));
          for (const message of synced) {
            expect(message).toMatchObject({ ...messages.get(message.seq as number), senderId: caller });
          }
        }
        // The fanout writes the list after delivery: ask until it shows as many as the sends
        // reached, backing off, since a slow fanout would otherwise see the asks refused with
        // `rate_limited` (`conversations` has a per-user limit).
        const listed = await waitForList(
          device,
          { limit: 100 },
          (page) => page.conversations.length >= stored.size,
        );
        const listedIds = listed.conversations.map((c) => c.conversationId).sort();
        observed.push(`Listed: ${JSON.stringify(listedIds)}`);
        expect(listedIds).toEqual([...stored.keys()].sort());
        const stranger = await connect(strangers[0], 'phone');
        expect((await history(stranger, directConversationId(...strangers))).lastSeq).toBe(0);
        await expectOpen(device);
      }),
      {
        numRuns: 3,
        // No shrinking: a shrunk session keeps its caller and runs against the same stack, whose
        // store and per-user limits keep what the failing session left, so it fails for that
        // reason and the report shows its failure instead of the first one.
        endOnFailure: true,
        // fast-check's report, then what the failing session (the last one) sent, got and read back.
        reporter: (details) => {
          if (!details.failed) return;
          const report = `${fc.defaultReportMessage(details)}\n${last ? transcript(last) : ''}`;
          throw new Error(report, { cause: details.errorInstance });
        },
      },
    );
  }, 60_000);

  describe('frames at the limits', () => {
    it('counts the 32 KB limit in UTF-8 bytes: 32,768 reach the route, 32,769 close the connection with 1009', async () => {
      const phone = await connect(uniqueId('alice'), 'phone');
      const frameOfBytes = (bytes: number, requestId: string) => {
        const head = `{"action":"conversations","requestId":"${requestId}","pad":"`;
        // Two-byte characters, then one-byte ones to land on the exact size.
        const room = bytes - Buffer.byteLength(`${head}"}`);
        const pad = 'é'.repeat(Math.floor(room / 2)) + 'x'.repeat(room % 2);
        const text = `${head}${pad}"}`;
        expect(Buffer.byteLength(text)).toBe(bytes);
        return text;
      };

      phone.sendRaw(frameOfBytes(MAX_FRAME_BYTES, 'fits'));
      const fits = await phone.next((f) => f.requestId === 'fits');
      await expectOpen(phone);
      phone.sendRaw(frameOfBytes(MAX_FRAME_BYTES + 1, 'over'));
      const closed = await phone.closed;

      // The route saw the frame that fits, and refused its extra field by name.
      expect(fits).toEqual({
        type: 'error',
        requestId: 'fits',
        code: 'bad_request',
        message: 'pad: is not a field of this action',
      });
      // The one over it reached no route: API Gateway closes the connection.
      expect(closed.code).toBe(1009);
      expect(phone.received.filter((f) => f.requestId === 'over')).toEqual([]);
    });

    it('answers JSON nested 10,000 deep with bad_request, at once, and stays open', async () => {
      const phone = await connect(uniqueId('alice'), 'phone');
      const arrays = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      // 5,000 objects deep: 10,000 would not fit in a frame.
      const objects = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;

      phone.sendRaw(arrays);
      const bare = await phone.next((f) => f.type === 'error');
      phone.sendRaw(
        `{"action":"send","requestId":"deep-body","to":"bob","clientMessageId":"c1","body":${arrays}}`,
      );
      const inBody = await phone.next((f) => f.requestId === 'deep-body');
      phone.sendRaw(`{"action":"conversations","requestId":"deep-extra","extra":${objects}}`);
      const inExtra = await phone.next((f) => f.requestId === 'deep-extra');

      expect(bare).toEqual({
        type: 'error',
        requestId: null,
        code: 'bad_request',
        message: 'frame: must be a JSON object',
      });
      expect(inBody).toMatchObject({ code: 'bad_request', message: 'body: must be a string' });
      expect(inExtra).toMatchObject({ code: 'bad_request', message: 'extra: is not a field of this action' });
      await expectOpen(phone);
    });
  });

  describe('unicode in bodies', () => {
    it('counts characters as code points: 4096 emoji are one body, 4097 are refused', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const phone = await connect(alice, 'phone');
      const family = '👩‍👩‍👧'; // 5 code points: three people joined by two zero-width joiners

      const emoji = await phone.request({
        action: 'send',
        to: bob,
        clientMessageId: 'e1',
        body: '🙂'.repeat(4096),
      });
      const families = await phone.request({
        action: 'send',
        to: bob,
        clientMessageId: 'e2',
        body: `${family.repeat(819)}x`,
      });
      const oneEmojiOver = await phone.request({
        action: 'send',
        to: bob,
        clientMessageId: 'e3',
        body: '🙂'.repeat(4097),
      });
      const oneFamilyOver = await phone.request({
        action: 'send',
        to: bob,
        clientMessageId: 'e4',
        body: family.repeat(820),
      });

      expect(emoji).toMatchObject({ type: 'sent', seq: 1 });
      expect(families).toMatchObject({ type: 'sent', seq: 2 });
      for (const refused of [oneEmojiOver, oneFamilyOver]) {
        expect(refused).toMatchObject({ code: 'bad_request', message: 'body: must be 1 to 4096 characters' });
      }
      const { messages, lastSeq } = await history(phone, directConversationId(alice, bob));
      expect(lastSeq).toBe(2);
      expect(messages.map((m) => m.body)).toEqual(['🙂'.repeat(4096), `${family.repeat(819)}x`]);
    });

    it('stores and returns RTL, zero-width, combining and NUL characters byte for byte', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const phone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      const conversationId = directConversationId(alice, bob);
      const bodies = [
        'שלום \u202Eabc\u202C مرحبا \u2066x\u2069',
        'zero\u200Bwidth\u200Djoin\uFEFF',
        'e\u0301 \u0000 nul \u0000',
        '\u0000',
        '🇫🇷 𝕏 \u2028 line \u2029',
      ];

      for (const [index, body] of bodies.entries()) {
        expect(
          await phone.request({ action: 'send', to: bob, clientMessageId: `u${index}`, body }),
        ).toMatchObject({
          type: 'sent',
          seq: index + 1,
        });
      }

      const events = await bobPhone.messagesOf(conversationId, bodies.length);
      const { messages } = await history(bobPhone, conversationId);
      const bytes = (values: Frame[]) =>
        values.map((m) => Buffer.from(m.body as string, 'utf8').toString('hex'));
      const expected = bodies.map((body) => Buffer.from(body, 'utf8').toString('hex'));
      expect(bytes(events)).toEqual(expected);
      expect(bytes(messages)).toEqual(expected);
    });

    it('refuses a body with a lone surrogate, which JSON can carry escaped but UTF-8 cannot store, and stores nothing', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const phone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      const conversationId = directConversationId(alice, bob);

      // A high surrogate with no low one, a low one alone, and a pair cut in half at the end;
      // the client writes each as a \uXXXX escape, so the frame itself is ASCII.
      const answers = [];
      for (const [i, body] of ['a\uD800b', 'b\uDFFFc', `c${'🙂'.slice(0, 1)}`].entries()) {
        answers.push(await phone.request({ action: 'send', to: bob, clientMessageId: `lone${i}`, body }));
      }
      const whole = await phone.request({ action: 'send', to: bob, clientMessageId: 'whole', body: 'a🙂b' });
      const { messages } = await history(bobPhone, conversationId);

      for (const answer of answers) {
        expect(answer).toMatchObject({
          type: 'error',
          code: 'bad_request',
          message: expect.stringMatching(/^body: .*lone surrogate/),
        });
      }
      expect(whole).toMatchObject({ type: 'sent', seq: 1 });
      expect(messages.map((m) => m.body)).toEqual(['a🙂b']);
      expect(phone.isOpen).toBe(true);
    });
  });

  describe('ids that try to reach another user’s conversation', () => {
    it('refuses every route on look-alike ids of others’ conversation, and nothing moves', async () => {
      const [alice, bob, mallory] = [uniqueId('alice'), uniqueId('bob'), uniqueId('mallory')];
      const conversationId = directConversationId(alice, bob);
      const alicePhone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      const intruder = await connect(mallory, 'laptop');
      await alicePhone.request({ action: 'send', to: bob, clientMessageId: 'secret', body: 'secret' });
      await bobPhone.messagesOf(conversationId, 1);
      const [first, second] = [alice, bob].sort() as [string, string];
      // Another user in the id's eyes (ids are case-sensitive), or not an id at all.
      const forbidden = [
        conversationId,
        `dm:${first.toUpperCase()}:${second}`,
        directConversationId(`${first}x`, second),
      ];
      const malformed = [
        `${conversationId}:`,
        `${conversationId}:${mallory}`,
        `dm:${first}::${second}`,
        `dm::${first}:${second}`,
        `DM:${first}:${second}`,
        ` ${conversationId}`,
        `${conversationId}\u0000`,
        `dm:${second}:${first}`,
        `dm:${first}:${mallory}:${second}`,
        `dm:${first.replace('a', '\u0430')}:${second}`, // a Cyrillic а
      ];
      const framesFor = (id: string) => [
        { action: 'send', conversationId: id, clientMessageId: randomUUID(), body: 'let me in' },
        { action: 'sync', conversationId: id, afterSeq: 0 },
        { action: 'ack', conversationId: id, seq: 1, kind: 'read' },
        { action: 'typing', conversationId: id, state: 'start' },
      ];

      const answers = async (ids: string[]) =>
        Promise.all(ids.flatMap(framesFor).map((frame) => intruder.request(frame)));
      const refusedAsForbidden = await answers(forbidden);
      const refusedAsMalformed = await answers(malformed);

      for (const answer of refusedAsForbidden) {
        expect(answer).toMatchObject({
          type: 'error',
          code: 'forbidden',
          message: expect.stringMatching(/^conversationId: /),
        });
      }
      for (const answer of refusedAsMalformed) {
        expect(answer).toMatchObject({
          type: 'error',
          code: 'bad_request',
          message: expect.stringMatching(/^conversationId: /),
        });
      }
      // Nothing stored: the conversation holds its one message and no receipt moved; the
      // look-alike conversations hold nothing; the intruder is in no conversation.
      const { messages, receipts } = await history(alicePhone, conversationId);
      expect(messages.map((m) => m.body)).toEqual(['secret']);
      expect(receipts).toEqual([
        { userId: first, deliveredSeq: 0, readSeq: 0 },
        { userId: second, deliveredSeq: 0, readSeq: 0 },
      ]);
      const lookAlike = await connect(first.toUpperCase(), 'phone');
      expect((await history(lookAlike, `dm:${first.toUpperCase()}:${second}`)).lastSeq).toBe(0);
      expect(await intruder.request({ action: 'conversations' })).toMatchObject({ conversations: [] });
      // No typing reached the members, and the intruder's connection is still open.
      await expectOpen(bobPhone);
      expect([...alicePhone.received, ...bobPhone.received].filter((f) => f.type === 'typing')).toEqual([]);
      await expectOpen(intruder);
    });

    it('hides the presence of others’ look-alike ids and subscribes to none of them', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const alicePhone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      // Bob writes to alice: his presence is hers to see (protocol 1.3), once his entry is written.
      await bobPhone.request({ action: 'send', to: alice, clientMessageId: randomUUID(), body: 'hi' });
      await waitForList(bobPhone, {}, (page) => page.conversations.length > 0);

      const answer = await alicePhone.request({
        action: 'subscribePresence',
        userIds: [bob, bob.toUpperCase(), `${bob}_`, alice],
      });

      expect(answer.users).toEqual([
        { userId: bob, online: true, lastSeen: null },
        { userId: bob.toUpperCase(), online: false, lastSeen: null },
        { userId: `${bob}_`, online: false, lastSeen: null },
        { userId: alice, online: true, lastSeen: null },
      ]);
    });
  });
});

describe('a stage whose send route is throttled', () => {
  const BURST = 10;
  // As in AWS, the `send` route's own bucket, shared by every connection of the stage; it
  // refills one token in 100 s, so none arrives during the test.
  const { connect } = useTestStack({
    throttle: { routes: { send: { rateLimit: 0.01, burstLimit: BURST } } },
  });

  /** API Gateway's own frame for a throttled request: it carries API Gateway's requestId, not ours. */
  const isThrottled = (frame: Frame) => frame.message === 'Too Many Requests' && frame.type === undefined;

  /** Every frame matching `predicate` once there are `count` of them. */
  async function framesWhere(device: TestClient, predicate: (frame: Frame) => boolean, count: number) {
    while (device.received.filter(predicate).length < count) await device.next(predicate);
    return device.received.filter(predicate);
  }

  it('answers sends past the burst with API Gateway’s Too Many Requests frame, stores none of them, and stays open', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const phone = await connect(alice, 'phone');
    const desktop = await connect(alice, 'desktop');
    const requestIds = Array.from({ length: 3 * BURST }, (_, i) => `flood-${i}`);

    for (const [i, requestId] of requestIds.entries()) {
      phone.sendRaw(
        JSON.stringify({ action: 'send', requestId, to: bob, clientMessageId: `c${i}`, body: `m${i}` }),
      );
    }
    const isAnswer = (frame: Frame) => isThrottled(frame) || requestIds.includes(frame.requestId as string);
    const answers = await framesWhere(phone, isAnswer, requestIds.length);
    // The bucket is the route's, not the connection's: another device's send is throttled too,
    // while a route without a throttle of its own is served.
    desktop.sendRaw(
      JSON.stringify({ action: 'send', requestId: 'other', to: bob, clientMessageId: 'o', body: 'o' }),
    );
    const otherSend = await desktop.next(isThrottled);
    const ping = await desktop.request({ action: 'ping' });

    const sent = answers.filter((answer) => answer.type === 'sent');
    const throttled = answers.filter(isThrottled);
    expect(sent).toHaveLength(BURST);
    expect(throttled).toHaveLength(requestIds.length - BURST);
    for (const frame of [...throttled, otherSend]) {
      expect(Object.keys(frame).sort()).toEqual(['connectionId', 'message', 'requestId']);
    }
    expect(ping.type).toBe('pong');
    // Nothing of the throttled sends was stored: the conversation holds exactly the sent ones.
    const { messages } = await history(phone, directConversationId(alice, bob));
    const seqs = sent.map((_, index) => index + 1);
    expect(messages.map((m) => m.seq)).toEqual(seqs);
    expect(sent.map((answer) => answer.seq as number).sort((a, b) => a - b)).toEqual(seqs);
    expect(messages.map((m) => m.clientMessageId).sort()).toEqual(
      sent.map((answer) => answer.clientMessageId).sort(),
    );
    await expectOpen(phone);
  });
});

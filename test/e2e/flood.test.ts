/**
 * One user flooding `send` and `typing` from several connections while another pair
 * exchanges messages (issue #15). The flooder is answered `rate_limited` and keeps no more
 * than its limit; the pair's messages all arrive. How long the pair's
 * messages take under the flood is the benchmark's to show (`npm run bench -- --flood`),
 * not a test's.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, RATE_WINDOW_SECONDS, type RateLimits } from '../../definitions/rate-limits.js';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

/** Tight limits, so that a flood a test machine can make goes well past them. */
const LIMITS: RateLimits = {
  ...DEFAULT_RATE_LIMITS,
  send: { perSecond: 10, perWindow: 30 },
  typing: { perSecond: 5, perWindow: 10 },
};
const FLOOD_CONNECTIONS = 4;
const FRAMES_PER_CONNECTION = 25;
const PAIR_MESSAGES = 8;

/** How many windows of `seconds` the time from `start` to `end` (epoch ms) touches. */
function periodsTouched(start: number, end: number, seconds: number): number {
  return Math.floor(end / 1000 / seconds) - Math.floor(start / 1000 / seconds) + 1;
}

/** Sends every frame at once, without waiting, and resolves with the answers of those that get one. */
async function flood(device: TestClient, frames: Array<Record<string, unknown>>): Promise<Frame[]> {
  const answers = frames.map((frame) => {
    const requestId = randomUUID();
    const answer = device.next((received) => received.requestId === requestId, 20_000);
    device.sendRaw(JSON.stringify({ ...frame, requestId }));
    return answer;
  });
  return Promise.all(answers);
}

/**
 * Resolves once each typing frame of `requestIds` has come to its outcome: an answer to the
 * flooder that sent it (a refusal) or a typing event at carol's only device (let through).
 * Checked at every frame any of them receives.
 */
async function everyTypingFrameCame(flooders: TestClient[], carol: TestClient, requestIds: Set<string>) {
  const outcomes = () =>
    flooders.reduce(
      (count, device) =>
        count + device.received.filter((frame) => requestIds.has(frame.requestId as string)).length,
      0,
    ) + carol.received.filter((frame) => frame.type === 'typing').length;
  if (outcomes() >= requestIds.size) return;
  await Promise.any(
    [...flooders, carol].map((device) => device.next(() => outcomes() >= requestIds.size, 20_000)),
  );
  expect(outcomes()).toBe(requestIds.size);
}

/** Alice and bob take turns, each waiting for the other's message before answering. */
async function exchange(alice: TestClient, bob: TestClient, conversationId: string, bobId: string) {
  for (let turn = 0; turn < PAIR_MESSAGES; turn += 1) {
    const [from, to] = turn % 2 === 0 ? [alice, bob] : [bob, alice];
    const sent = await from.request({
      action: 'send',
      ...(from === alice ? { to: bobId } : { conversationId }),
      clientMessageId: `pair-${turn}`,
      body: `turn ${turn}`,
    });
    expect(sent).toMatchObject({ type: 'sent', seq: turn + 1 });
    await to.waitFor((frame) => frame.type === 'message' && frame.seq === turn + 1, 15_000);
  }
}

describe('one user flooding send and typing while another pair talks', () => {
  const { connect } = useTestStack({ rateLimits: LIMITS });

  it('answers the flooder rate_limited, keeps no more of its sends than the limit, and delivers every message of the pair', {
    timeout: 60_000,
  }, async () => {
    const [mallory, carol, alice, bob] = [
      uniqueId('mallory'),
      uniqueId('carol'),
      uniqueId('alice'),
      uniqueId('bob'),
    ];
    const flooders = [];
    for (let index = 0; index < FLOOD_CONNECTIONS; index += 1)
      flooders.push(await connect(mallory, `d${index}`));
    const carolPhone = await connect(carol, 'phone');
    const [alicePhone, bobPhone] = [await connect(alice, 'phone'), await connect(bob, 'phone')];
    const floodConversation = directConversationId(mallory, carol);
    // Each flooding connection sends to a recipient of its own: one conversation would
    // measure its race for the next seq rather than the limit.
    const recipients = flooders.map((_, d) => `${carol}-${d}`);
    const pairConversation = directConversationId(alice, bob);

    const floodStart = Date.now();
    const sendAnswers = Promise.all(
      flooders.map((device, d) =>
        flood(
          device,
          Array.from({ length: FRAMES_PER_CONNECTION }, (_, i) => ({
            action: 'send',
            to: recipients[d],
            clientMessageId: `flood-${d}-${i}`,
            body: 'x'.repeat(100),
          })),
        ),
      ),
    );
    // A typing frame is answered only when refused; one let through reaches carol's phone.
    const typingRequestIds = new Set<string>();
    for (const device of flooders) {
      for (let i = 0; i < FRAMES_PER_CONNECTION; i += 1) {
        const requestId = randomUUID();
        typingRequestIds.add(requestId);
        device.sendRaw(
          JSON.stringify({ action: 'typing', conversationId: floodConversation, state: 'start', requestId }),
        );
      }
    }
    const [floodAnswers] = await Promise.all([
      sendAnswers,
      exchange(alicePhone, bobPhone, pairConversation, bob),
    ]);
    const floodEnd = Date.now();
    await everyTypingFrameCame(flooders, carolPhone, typingRequestIds);

    const answers = floodAnswers.flat();
    const accepted = answers.filter((answer) => answer.type === 'sent');
    const refused = answers.filter((answer) => answer.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer).toMatchObject({
        code: 'rate_limited',
        message: expect.stringMatching(
          /^rate limit: at most 10 send frames a second and 30 every 10 seconds per user/,
        ),
      });
    }
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.length).toBeLessThanOrEqual(
      LIMITS.send.perWindow * periodsTouched(floodStart, floodEnd, RATE_WINDOW_SECONDS),
    );
    expect(accepted.length).toBeLessThanOrEqual(
      LIMITS.send.perSecond * periodsTouched(floodStart, floodEnd, 1),
    );
    // A refused typing frame is answered too, and no more typing reached carol than the limit lets through.
    const typingRefusals = flooders.flatMap((device) =>
      device.received.filter(
        (frame) => frame.type === 'error' && String(frame.message).includes('typing frames'),
      ),
    );
    expect(typingRefusals.length).toBeGreaterThan(0);
    const typingSeen = carolPhone.received.filter((frame) => frame.type === 'typing').length;
    expect(typingSeen).toBeLessThanOrEqual(
      LIMITS.typing.perWindow * periodsTouched(floodStart, Date.now(), RATE_WINDOW_SECONDS),
    );

    // Nothing of a refused send was stored: each conversation holds exactly the accepted ones.
    for (const recipient of recipients) {
      const conversationId = directConversationId(mallory, recipient);
      const kept = accepted
        .filter((answer) => answer.conversationId === conversationId)
        .map((answer) => answer.seq as number)
        .sort((a, b) => a - b);
      const history = await flooders[0]?.request({ action: 'sync', conversationId, afterSeq: 0, limit: 200 });
      expect(history?.lastSeq).toBe(kept.length);
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, index) => index + 1));
    }
    // Refused, the flooder's connections stay up.
    expect(flooders.every((device) => device.isOpen)).toBe(true);

    // Every message of the pair reached both, as a client keeps it (docs/protocol.md: by seq,
    // dropping a repeat, since the server may push an event more than once): all of them,
    // each with its body, nothing missing or extra.
    for (const device of [alicePhone, bobPhone]) {
      const kept = new Map<number, unknown>();
      for (const frame of device.received) {
        if (frame.type === 'message' && frame.conversationId === pairConversation) {
          kept.set(frame.seq as number, frame.body);
        }
      }
      expect([...kept.entries()].sort(([a], [b]) => a - b)).toEqual(
        Array.from({ length: PAIR_MESSAGES }, (_, turn) => [turn + 1, `turn ${turn}`]),
      );
    }
  });
});
